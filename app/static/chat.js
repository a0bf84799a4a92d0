// The chat page at /: asks /api/v1/chat/stream and shows the answer while it streams.
//
// A reference for frontends: plain ES2017, no framework, no build step, no inline script (the CSP
// allows files from 'self' only). Every text from the user or the server is inserted as text
// (textContent), never as HTML. The conversation id is kept in localStorage, so a reload shows
// the conversation again (GET /api/v1/conversations/<id>).
//
// Handoff: "Talk to a person" (POST /api/v1/conversations/<id>/handoff), or a request in words,
// puts the conversation in the state "waiting", then "agent" once someone from the team claims
// it. While a person has it, a question is stored and answered 202 with no bot answer; the
// team's messages and state changes arrive live through EventSource on
// /api/v1/conversations/<id>/events (it resumes with Last-Event-ID, or ?after=<message_id>).
// Uses api.js (reading events and errors) and feedback.js (thumbs under each answer).
"use strict";

(function () {
  const STORAGE_KEY = "greengrocer.conversationId";
  // Friendly names for the sources we know; any other source is shown as it comes.
  const SOURCE_LABELS = { faq: "From our FAQ", llm: "Written by our AI assistant", handoff: "Passing you to our team" };
  const TEXT = {
    offline: "We could not reach our assistant. Please check your connection and try again.",
    failed: "Something went wrong on our side. Please try again in a moment.",
    cutOff: "The answer was cut off. Please ask again.",
    unanswered: "This question was not answered. Please ask it again.",
    answering: "Our assistant is answering…",
    loading: "Loading your conversation…",
    historyFailed: "We could not load your earlier messages.",
    sending: "Sending your message to our team…",
    sent: "Sent to our team",
    waiting: "Waiting for our team… A person will reply here.",
    joined: (name) => name + " joined",
    offerHandoff: "Would you like to talk to a person instead?",
    handoffFailed: "We could not reach our team. Please try again in a moment.",
  };
  // What an event row of the conversation says (its `event`, with the agent's name).
  const EVENT_TEXT = {
    handoff: () => "Passed to our support team",
    claimed: (name) => (name || "Someone from our team") + " joined",
    released: (name) => (name || "Our team member") + " left; waiting for our team",
    closed: (name) => (name ? name + " closed the conversation" : "The conversation with our team ended"),
    reopened: () => "Our assistant is answering again",
  };
  // The event that led to a state, when a live `state` event does not name it.
  const EVENT_OF_STATE = { waiting: "handoff", agent: "claimed", closed: "closed", bot: "reopened" };
  const PERSON_STATES = ["waiting", "agent"];
  const { readEvents, readError, isEventStream } = window.GreenGrocerApi;

  const api = document.body.dataset.api;
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const sendButton = document.getElementById("send");
  const newButton = document.getElementById("new-conversation");
  const log = document.getElementById("conversation");
  const scroller = document.getElementById("scroller");
  const statusLine = document.getElementById("status");
  const handoffButton = document.getElementById("talk-to-person");
  const stateLine = document.getElementById("handoff-state");

  let busy = false;
  let inFlight = null; // the AbortController of the request being answered
  let historyLoad = null; // the history being loaded; "New conversation" drops it
  let state = "bot"; // bot | waiting | agent | closed
  let agentName = null;
  let live = null; // the EventSource of the team's messages, open while a person has the conversation
  let lastMessageId = null; // the newest message shown: where the live events resume
  const shown = new Set(); // the message ids shown, so that nothing shows twice

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

  function addMessage(role, content, source, author) {
    const item = document.createElement("li");
    item.className = "message message--" + role;
    const speaker = document.createElement("span");
    speaker.className = "visually-hidden";
    speaker.textContent = role === "user" ? "You: " : role === "agent" ? author + ": " : "Assistant: ";
    item.append(speaker);
    if (role === "agent") {
      const name = document.createElement("p");
      name.className = "message__author";
      name.setAttribute("aria-hidden", "true");
      name.textContent = author;
      item.append(name);
    }
    const text = document.createElement("p");
    text.className = "message__text";
    text.textContent = content;
    item.append(text);
    log.append(item);
    if (source) labelSource(item, source);
    return item;
  }

  // A line between the bubbles that says what happened: "Dana joined".
  function addEvent(text) {
    const item = document.createElement("li");
    item.className = "message message--event";
    const line = document.createElement("p");
    line.className = "message__text";
    line.textContent = text;
    item.append(line);
    log.append(item);
    return item;
  }

  // Note a stored message's id on its bubble; false if it is already shown.
  function identify(item, messageId) {
    if (messageId === undefined || messageId === null) return true;
    if (item) item.dataset.messageId = messageId;
    lastMessageId = messageId;
    if (shown.has(String(messageId))) return false;
    shown.add(String(messageId));
    return true;
  }

  function offerFeedback(item, messageId, feedback) {
    const id = conversationId();
    if (!id || messageId === undefined || messageId === null) return;
    window.GreenGrocerFeedback.attach(item, {
      url: api + "/conversations/" + encodeURIComponent(id) + "/messages/" + encodeURIComponent(messageId) + "/feedback",
      feedback: feedback || null,
    });
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
    updateHandoffButton();
    if (value) {
      log.setAttribute("aria-busy", "true"); // screen readers read the answer once it is complete
    } else {
      log.removeAttribute("aria-busy");
      setStatus("");
    }
  }

  // --- The conversation's state, and the team's messages live

  function setState(next, agent) {
    if (!next) return;
    state = next;
    if (agent !== undefined) agentName = agent;
    document.body.dataset.state = state;
    stateLine.textContent = state === "waiting" ? TEXT.waiting : state === "agent" ? TEXT.joined(agentName || "Our team") : "";
    stateLine.hidden = !stateLine.textContent;
    updateHandoffButton();
    if (withPerson()) listen();
    else stopListening();
  }

  // A person has the conversation, or will have it: the bot is silent.
  function withPerson() {
    return PERSON_STATES.includes(state);
  }

  // "Talk to a person" asks for one once the conversation exists, and not while busy or already with one.
  function updateHandoffButton() {
    handoffButton.disabled = busy || !conversationId() || withPerson();
  }

  function listen() {
    const id = conversationId();
    if (live || !id) return;
    let url = api + "/conversations/" + encodeURIComponent(id) + "/events";
    if (lastMessageId !== null) url += "?after=" + encodeURIComponent(lastMessageId);
    const source = new EventSource(url);
    live = source;
    source.addEventListener("message", function (event) {
      const data = JSON.parse(event.data);
      const item = addMessage("agent", data.content, null, data.author);
      if (identify(item, data.message_id)) offerFeedback(item, data.message_id, null);
      else item.remove();
      scrollToEnd();
    });
    source.addEventListener("state", function (event) {
      const data = JSON.parse(event.data);
      const kind = data.event || (data.state === "waiting" && state === "agent" ? "released" : EVENT_OF_STATE[data.state]);
      const name = data.agent || agentName;
      if (identify(null, data.message_id) && EVENT_TEXT[kind]) addEvent(EVENT_TEXT[kind](name));
      setState(data.state, data.agent); // an agent left out keeps the one shown
      scrollToEnd();
    });
    source.addEventListener("error", function () {
      // EventSource reconnects by itself (with Last-Event-ID); a refused stream is closed for good:
      // try again in a while, from the newest message shown.
      if (source.readyState === EventSource.CLOSED && live === source) {
        live = null;
        setTimeout(function () {
          if (withPerson()) listen();
        }, 3000);
      }
    });
  }

  function stopListening() {
    if (live) live.close();
    live = null;
  }

  async function handOff() {
    const id = conversationId();
    if (!id || busy) return;
    setBusy(true);
    let problem = "";
    try {
      const response = await fetch(api + "/conversations/" + encodeURIComponent(id) + "/handoff", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: "{}",
      });
      if (response.ok) {
        const data = await response.json();
        if (data.content) {
          const item = addMessage("assistant", data.content, "handoff");
          if (!identify(item, data.message_id)) item.remove();
        }
        setBusy(false);
        setState(data.state);
        scrollToEnd();
        return;
      }
      problem = (await readError(response)).message;
    } catch (error) {
      problem = TEXT.handoffFailed;
    }
    setBusy(false);
    setStatus(problem);
  }

  // Under a failed answer, when the server says a person could help: the button, once more.
  function offerHandoff(item) {
    const offer = document.createElement("button");
    offer.type = "button";
    offer.className = "button button--small message__offer";
    offer.textContent = "Talk to a person";
    offer.addEventListener("click", function () {
      offer.remove();
      handOff();
    });
    addNote(item, TEXT.offerHandoff);
    item.append(offer);
  }

  // --- Asking a question

  async function ask(question) {
    setBusy(true);
    setStatus(withPerson() ? TEXT.sending : TEXT.answering);
    const asked = addMessage("user", question);
    const reply = addMessage("assistant", "");
    reply.classList.add("message--streaming");
    scrollToEnd();
    const controller = new AbortController();
    inFlight = controller;
    try {
      await streamAnswer(question, asked, reply, controller.signal);
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

  async function streamAnswer(question, asked, reply, signal) {
    const body = { message: question };
    const id = conversationId();
    if (id) body.conversation_id = id;
    const response = await fetch(api + "/chat/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal: signal,
    });
    if (response.status === 202) {
      // A person has the conversation: the question is stored for them, and the bot stays silent.
      const data = await response.json();
      reply.remove();
      identify(asked, data.message_id);
      asked.classList.add("message--sent");
      addNote(asked, TEXT.sent);
      setState(data.state, data.agent); // an agent left out keeps the one shown
      return;
    }
    if (!response.ok || !isEventStream(response)) {
      // Refused before the stream started: validation, rate limit (the message says when to
      // retry), unknown conversation, no model configured.
      const error = await readError(response);
      if (error.code === "CONVERSATION_NOT_FOUND") forgetConversation();
      showFailure(reply, error.message, error.code);
      if (error.body.handoff_available && conversationId()) offerHandoff(reply);
      return;
    }
    let ended = false;
    await readEvents(response.body, function (name, data) {
      if (name === "meta") {
        rememberConversation(data.conversation_id);
        setState(data.state);
      } else if (name === "delta") {
        appendText(reply, data.content);
      } else if (name === "handoff") {
        textOf(reply).textContent = data.content; // the handoff message stands for anything written before
        identify(reply, data.message_id);
      } else if (name === "done") {
        ended = true;
        labelSource(reply, data.source);
        identify(reply, data.message_id);
        if (data.source !== "handoff") offerFeedback(reply, data.message_id, null);
        setState(data.state);
      } else if (name === "error") {
        ended = true;
        showFailure(reply, data.error.message, data.error.code);
        if ((data.handoff_available || data.error.handoff_available) && conversationId()) offerHandoff(reply);
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
    forgetConversation();
    shown.clear();
    lastMessageId = null;
    setState("bot", null);
    setBusy(false);
    log.replaceChildren();
    input.focus();
  }

  // --- The conversation so far, after a reload

  function showStoredMessages(messages) {
    messages.forEach(function (message, index) {
      if (message.role === "event") {
        identify(addEvent((EVENT_TEXT[message.event] || EVENT_TEXT.reopened)(message.author)), message.message_id);
        return;
      }
      const item = addMessage(message.role, message.content, message.role === "assistant" ? message.source : null, message.author);
      identify(item, message.message_id);
      const rated = message.role === "agent" || (message.role === "assistant" && message.source !== "handoff" && !message.interrupted);
      if (rated) offerFeedback(item, message.message_id, message.feedback);
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
        const conversation = await response.json();
        showStoredMessages(conversation.messages);
        setState(conversation.state || "bot", conversation.agent || null);
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
  handoffButton.addEventListener("click", handOff);

  showHistory();
})();
