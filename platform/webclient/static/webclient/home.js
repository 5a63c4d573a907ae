// A signed-in person whose role has no page here: only the way out.
import { signOutButtons } from "./api.js";

signOutButtons();
