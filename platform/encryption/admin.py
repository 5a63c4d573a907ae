"""Data keys are never shown or edited in the admin: rotation and shredding have commands."""
