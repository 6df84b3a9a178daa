// The browser side of wslib.notebook.chatinput.ChatInput (an anywidget front-end module).
//
// Enter in the box, or a click on Send, sends one custom message that carries the text
// itself, {event: "send", text}, and empties the box. Nothing is sent when the box loses
// the focus, and no state is synced: a state update may wait behind other messages while
// a custom message goes at once, so the text travels inside the message, never beside it.

function render({ model, el }) {
  el.classList.add("chat-compose");
  // ipywidgets' own classes, so the box and the button look like its Text and Button.
  const field = document.createElement("div");
  field.className = "jupyter-widgets widget-inline-hbox widget-text chat-input";
  const box = document.createElement("input");
  box.type = "text";
  box.className = "widget-input";
  box.autocomplete = "off";
  field.append(box);
  const send = document.createElement("button");
  send.type = "button";
  send.className = "jupyter-widgets jupyter-button widget-button mod-primary chat-send";
  send.textContent = "Send";
  el.append(field, send);

  function take() {
    const text = box.value;
    if (!text.trim()) return; // spaces alone stay in the box, as Python would drop them
    model.send({ event: "send", text });
    box.value = "";
  }
  function onKeydown(event) {
    event.stopPropagation(); // keys typed here are text, not notebook shortcuts
    // While an input method composes a character, its Enter confirms that character.
    if (event.key !== "Enter" || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    take();
  }
  const stop = (event) => event.stopPropagation();
  function relabel() {
    const label = model.get("label");
    box.setAttribute("aria-label", label);
    // Three panes have three Send buttons: each says whose box it sends ("Send message
    // from Bob"), starting with the word it shows.
    send.setAttribute("aria-label", "Send " + label.charAt(0).toLowerCase() + label.slice(1));
    box.placeholder = model.get("placeholder");
  }

  relabel();
  box.addEventListener("keydown", onKeydown);
  box.addEventListener("keypress", stop);
  send.addEventListener("click", take);
  model.on("change:label", relabel);
  model.on("change:placeholder", relabel);
  return () => {
    model.off("change:label", relabel);
    model.off("change:placeholder", relabel);
  };
}

export default { render };
