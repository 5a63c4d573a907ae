// The service user's chat: their one conversation, live.
import { api, signOutButtons, showError } from "./api.js";
import { backInto, composer } from "./composer.js";
import { LiveSocket } from "./live.js";
import { Thread } from "./thread.js";

signOutButtons();
const viewer = Number(document.body.dataset.viewer);
const status = document.getElementById("chat-status");
const list = document.getElementById("messages");
const form = document.getElementById("composer");
let thread = null;

const live = new LiveSocket({
  banner: document.getElementById("connection"),
  onOpen: () => thread && thread.onOpen(),
  onFrame: (frame) => thread && thread.handle(frame),
});

async function start() {
  let conversations;
  try {
    conversations = await api("conversations/");
  } catch (error) {
    status.textContent = error.message;
    return;
  }
  if (!conversations.length) {
    status.textContent = "You don't have a peer supporter yet. Supportive texts and surveys still reach you by SMS.";
    form.hidden = true;
    return;
  }
  const conversation = conversations[0];
  const peer = conversation.peer_supporter;
  document.getElementById("chat-title").textContent = peer ? `Chat with ${peer.display_name}` : "Your conversation";
  status.textContent = peer ? "" : "Your peer supporter is being arranged. You can write now: they will read it.";
  const textarea = document.getElementById("body");
  thread = new Thread({
    conversation: conversation.id,
    list,
    viewer,
    live,
    onEdit: backInto(textarea),
  });
  try {
    await thread.loadLatest();
  } catch (error) {
    status.textContent = error.message;
  }
  composer({
    form,
    textarea,
    error: document.getElementById("composer-error"),
    onSend: (body) => thread.send(body),
  });
  live.start();
  document.addEventListener("visibilitychange", () => thread.markRead());
}

start().catch((error) => showError(document.getElementById("composer-error"), error.message));
