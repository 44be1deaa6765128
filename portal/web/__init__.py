"""Page and fragment handlers: thin — parse, call a service, render."""
