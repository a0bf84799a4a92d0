// The chat page at /: asks /api/v1/chat/stream and shows the answer while it streams.
//
// A reference for frontends: plain ES2017, no framework, no build step, no inline script (the CSP
// allows files from 'self' only). Every text from the user or the server is inserted as text
// (textContent), never as HTML. The conversation id is kept in localStorage, so a reload shows
// the conversation again (GET /api/v1/conversations/<id>).
"use strict";

(function () {
  const STORAGE_KEY = "greengrocer.conversationId";
  // Friendly names for the sources we know; any other source is shown as it comes.
  const SOURCE_LABELS = { faq: "From our FAQ", llm: "Written by our AI assistant" };
  const TEXT = {
    offline: "We could not reach our assistant. Please check your connection and try again.",
    failed: "Something went wrong on our side. Please try again in a moment.",
    cutOff: "The answer was cut off. Please ask again.",
    unanswered: "This question was not answered. Please ask it again.",
    answering: "Our assistant is answering…",
    loading: "Loading your conversation…",
    historyFailed: "We could not load your earlier messages.",
  };

  const api = document.body.dataset.api;
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const sendButton = document.getElementById("send");
  const newButton = document.getElementById("new-conversation");
  const log = document.getElementById("conversation");
  const scroller = document.getElementById("scroller");
  const statusLine = document.getElementById("status");

  let busy = false;
  let inFlight = null; // the AbortController of the request being answered
  let historyLoad = null; // the history being loaded; "New conversation" drops it

  // The conversation id, kept across reloads. localStorage can throw (private modes): then the
  // conversation lasts as long as the page.
  let pageConversationId = null;

  function conversationId() {
    try {
      return localStorage.getItem(STORAGE_KEY);
    } catch (error) {
      return pageConversationId;
    }
  }

  function rememberConversation(id) {
    pageConversationId = id;
    try {
      localStorage.setItem(STORAGE_KEY, id);
    } catch (error) {
      // kept in pageConversationId only
    }
  }

  function forgetConversation() {
    pageConversationId = null;
    try {
      localStorage.removeItem(STORAGE_KEY);
    } catch (error) {
      // nothing stored
    }
  }

  // --- The conversation log: one <li> bubble per message, its text always set as text.

  function addMessage(role, content, source) {
    const item = document.createElement("li");
    item.className = "message message--" + role;
    const speaker = document.createElement("span");
    speaker.className = "visually-hidden";
    speaker.textContent = role === "user" ? "You: " : "Assistant: ";
    const text = document.createElement("p");
    text.className = "message__text";
    text.textContent = content;
    item.append(speaker, text);
    log.append(item);
    if (source) labelSource(item, source);
    return item;
  }

  function textOf(item) {
    return item.querySelector(".message__text");
  }

  function addNote(item, note) {
    const line = document.createElement("p");
    line.className = "message__note";
    line.textContent = note;
    item.append(line);
  }

  function labelSource(item, source) {
    item.dataset.source = source;
    addNote(item, SOURCE_LABELS[source] || "Source: " + String(source).replace(/_/g, " "));
  }

  function appendText(item, piece) {
    const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    textOf(item).append(document.createTextNode(piece));
    if (nearBottom) scrollToEnd();
  }

  // A failed answer: the friendly message in place of the answer, or under what was written.
  function showFailure(item, message, code) {
    item.classList.add("message--error");
    if (code) item.dataset.errorCode = code;
    const text = textOf(item);
    if (text.textContent === "") {
      text.textContent = message;
    } else {
      item.classList.add("message--interrupted");
      addNote(item, message);
    }
  }

  function scrollToEnd() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  function setStatus(message) {
    statusLine.textContent = message;
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
    if (value) {
      log.setAttribute("aria-busy", "true"); // screen readers read the answer once it is complete
    } else {
      log.removeAttribute("aria-busy");
      setStatus("");
    }
  }

  // --- Server-sent events from a fetch() body (EventSource cannot POST).

  // Call onEvent(name, data) for each event; comment lines (": waiting") are skipped.
  async function readEvents(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let name = "message";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // A final "\r" may be the first half of "\r\n": keep it until the next read.
      const complete = done ? buffer : buffer.replace(/\r$/, "");
      const lines = complete.split(/\r\n|\r|\n/);
      const rest = lines.pop(); // the line not yet ended; at the end of the stream, dropped
      buffer = done ? "" : rest + buffer.slice(complete.length);
      for (const line of lines) {
        if (line === "") {
          if (data.length) onEvent(name, JSON.parse(data.join("\n")));
          name = "message";
          data = [];
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") name = text;
          else if (field === "data") data.push(text);
        }
      }
      if (done) return; // an event without its blank line is incomplete: dropped, as EventSource does
    }
  }

  // The JSON error of a response, or a generic one when the body is not ours (a proxy's page).
  async function readError(response) {
    try {
      const body = await response.json();
      if (body && body.error && typeof body.error.message === "string") return body.error;
    } catch (error) {
      // not JSON
    }
    return { code: null, message: TEXT.failed };
  }

  function isEventStream(response) {
    return (response.headers.get("Content-Type") || "").startsWith("text/event-stream");
  }

  // --- Asking a question

  async function ask(question) {
    setBusy(true);
    setStatus(TEXT.answering);
    addMessage("user", question);
    const reply = addMessage("assistant", "");
    reply.classList.add("message--streaming");
    scrollToEnd();
    const controller = new AbortController();
    inFlight = controller;
    try {
      await streamAnswer(question, reply, controller.signal);
    } catch (error) {
      if (controller.signal.aborted) return; // "New conversation" was pressed
      showFailure(reply, error instanceof TypeError ? TEXT.offline : TEXT.failed);
    } finally {
      reply.classList.remove("message--streaming");
      if (inFlight === controller) {
        inFlight = null;
        setBusy(false);
        if (document.activeElement === sendButton || document.activeElement === document.body) input.focus();
      }
    }
  }

  async function streamAnswer(question, reply, signal) {
    const body = { message: question };
    const id = conversationId();
    if (id) body.conversation_id = id;
    const response = await fetch(api + "/chat/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal: signal,
    });
    if (!response.ok || !isEventStream(response)) {
      // Refused before the stream started: validation, rate limit (the message says when to
      // retry), unknown conversation, no model configured.
      const error = await readError(response);
      if (error.code === "CONVERSATION_NOT_FOUND") forgetConversation();
      showFailure(reply, error.message, error.code);
      return;
    }
    let ended = false;
    await readEvents(response.body, function (name, data) {
      if (name === "meta") {
        rememberConversation(data.conversation_id);
      } else if (name === "delta") {
        appendText(reply, data.content);
      } else if (name === "done") {
        ended = true;
        labelSource(reply, data.source);
      } else if (name === "error") {
        ended = true;
        showFailure(reply, data.error.message, data.error.code);
      } // other events are ignored, so the server can add new ones
    });
    if (!ended) showFailure(reply, TEXT.cutOff); // the connection dropped mid-answer
  }

  function submit() {
    if (busy) return;
    const question = input.value.trim();
    if (!question) {
      input.focus();
      return;
    }
    input.value = "";
    ask(question);
  }

  function startNewConversation() {
    if (inFlight) inFlight.abort();
    inFlight = null;
    historyLoad = null;
    setBusy(false);
    forgetConversation();
    log.replaceChildren();
    input.focus();
  }

  // --- The conversation so far, after a reload

  function showStoredMessages(messages) {
    messages.forEach(function (message, index) {
      const item = addMessage(message.role, message.content, message.role === "assistant" ? message.source : null);
      if (message.role === "assistant" && message.interrupted) {
        item.classList.add("message--interrupted");
        addNote(item, TEXT.cutOff);
      }
      const next = messages[index + 1];
      const partialFollows = next && next.role === "assistant" && next.interrupted;
      if (message.role === "user" && message.error_code && !partialFollows) {
        showFailure(addMessage("assistant", ""), TEXT.unanswered, message.error_code);
      }
    });
    scrollToEnd();
  }

  async function showHistory() {
    const id = conversationId();
    if (!id) return;
    const load = {};
    historyLoad = load;
    setBusy(true);
    setStatus(TEXT.loading);
    let problem = "";
    try {
      const response = await fetch(api + "/conversations/" + encodeURIComponent(id), {
        headers: { Accept: "application/json" },
      });
      if (historyLoad !== load) return; // "New conversation" was pressed meanwhile
      if (response.status === 404) {
        forgetConversation(); // deleted or expired: start afresh
      } else if (response.ok) {
        showStoredMessages((await response.json()).messages);
      } else {
        problem = (await readError(response)).message; // e.g. rate limited: the id is kept
      }
    } catch (error) {
      problem = TEXT.offline;
    }
    if (historyLoad !== load) return;
    historyLoad = null;
    setBusy(false);
    if (problem) setStatus(TEXT.historyFailed + " " + problem);
  }

  input.addEventListener("keydown", function (event) {
    // Enter sends, Shift+Enter starts a new line; Enter that confirms an input method's text does not send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.ctrlKey && !event.altKey && !event.metaKey) {
      event.preventDefault();
      submit();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
  });
  newButton.addEventListener("click", startNewConversation);

  showHistory();
})();
