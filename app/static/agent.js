// The agent console at /agent: the queue live, claim, the transcript, reply, release, close.
//
// Signing in is staff.js's (the token in sessionStorage, a bearer header on every request). The
// queue stays current through GET /api/v1/staff/events, read with fetch() and a ReadableStream
// (EventSource cannot send the Authorization header): a `queue` event refetches the queue, a
// `message` event adds a customer's message to the open conversation. A dropped stream is
// reopened with a growing delay; while it is down the console polls every 3 seconds.
// Every text is inserted with textContent, never as HTML.
"use strict";

(function () {
  const POLL_MS = 3000;
  const RECONNECT_MS = [1000, 2000, 5000, 10000, 30000];
  const TEXT = {
    live: "Live",
    polling: "Live updates paused: refreshing every 3 seconds.",
    alreadyClaimed: "Another agent has already taken this conversation.",
    notAssigned: "This conversation is not yours any more: claim it first.",
    failed: "Something went wrong on our side. Please try again in a moment.",
    offline: "We could not reach the server. Please check your connection.",
    nobodyWaiting: "Nobody is waiting.",
    noneYours: "No conversation is yours.",
  };
  const ROLE_NAMES = { user: "Customer", assistant: "Bot" };
  const EVENT_NAMES = {
    handoff: "Handed off",
    claimed: "Claimed",
    released: "Released",
    closed: "Closed",
    reopened: "Back to the bot",
  };
  const { readEvents, readError, isEventStream } = window.GreenGrocerApi;
  const element = window.GreenGrocerStaff.element;
  const TITLE = document.title;

  const byId = (id) => document.getElementById(id);
  const who = byId("who");
  const live = byId("live");
  const waitingList = byId("waiting");
  const mineList = byId("mine");
  const emptyTranscript = byId("transcript-empty");
  const transcriptBody = byId("transcript-body");
  const details = byId("details");
  const messages = byId("messages");
  const notice = byId("notice");
  const claimButton = byId("claim");
  const releaseButton = byId("release");
  const replyForm = byId("reply");
  const replyText = byId("reply-text");
  const closeForm = byId("close");
  const closeNote = byId("close-note");

  let stream = null; // the AbortController of the open staff event stream
  let reconnects = 0;
  let reconnectTimer = null;
  let pollTimer = null;
  let openId = null; // the conversation shown
  let lastMessageId = null;
  const shown = new Set();

  const staff = window.GreenGrocerStaff.session({
    api: document.body.dataset.api,
    role: "agent",
    form: byId("sign-in"),
    tokenInput: byId("token"),
    message: byId("sign-in-message"),
    signedIn: Array.from(document.querySelectorAll("[data-signed-in]")),
    signedOut: Array.from(document.querySelectorAll("[data-signed-out]")),
    signOutButton: byId("sign-out"),
    onSignIn: start,
    onSignOut: stop,
  });

  function say(message) {
    notice.textContent = message;
  }

  // What went wrong with a request, in words; a sign-out (401) says nothing here: staff.js did.
  function problemOf(error) {
    if (error instanceof window.GreenGrocerStaff.SignedOut) return "";
    return error instanceof TypeError ? TEXT.offline : TEXT.failed;
  }

  function waited(seconds) {
    const minutes = Math.floor((seconds || 0) / 60);
    if (minutes < 1) return "under a minute";
    if (minutes < 60) return minutes + " min";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function time(iso) {
    const moment = new Date(iso);
    return isNaN(moment) ? "" : moment.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // --- Starting and stopping with the sign-in

  function start(me) {
    who.textContent = "Signed in as " + me.name + " (" + me.role + ")";
    refreshQueue();
    connect();
  }

  function stop() {
    if (stream) stream.abort();
    stream = null;
    clearTimeout(reconnectTimer);
    stopPolling();
    reconnects = 0;
    openId = null;
    waitingList.replaceChildren();
    mineList.replaceChildren();
    document.title = TITLE;
    showTranscript(false);
  }

  // --- The staff event stream, with polling while it is down

  async function connect() {
    const controller = new AbortController();
    stream = controller;
    try {
      const response = await staff.fetch("/events", {
        headers: { Accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (response.ok && isEventStream(response)) {
        reconnects = 0;
        stopPolling();
        live.textContent = TEXT.live;
        // Its first event, `queue`, refreshes what changed while the stream was down.
        await readEvents(response.body, onStaffEvent);
      }
    } catch (error) {
      if (error instanceof window.GreenGrocerStaff.SignedOut) return;
    }
    if (stream !== controller || controller.signal.aborted) return; // signed out, or replaced
    stream = null;
    startPolling();
    const delay = RECONNECT_MS[Math.min(reconnects, RECONNECT_MS.length - 1)];
    reconnects += 1;
    reconnectTimer = setTimeout(connect, delay);
  }

  function onStaffEvent(name, data) {
    if (name === "queue") {
      refreshQueue();
      if (openId && (!data || !data.conversation_id || data.conversation_id === openId)) refreshTranscript();
    } else if (name === "message" && data.conversation_id === openId) {
      showMessage(data);
    }
  }

  function startPolling() {
    if (pollTimer) return;
    live.textContent = TEXT.polling;
    pollTimer = setInterval(function () {
      refreshQueue();
      if (openId) refreshTranscript();
    }, POLL_MS);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  // --- The queue

  async function refreshQueue() {
    let queue;
    try {
      const response = await staff.fetch("/queue");
      if (!response.ok) return;
      queue = await response.json();
    } catch (error) {
      return; // the next event or poll tries again
    }
    const waiting = queue.waiting || [];
    document.title = (waiting.length ? "(" + waiting.length + ") " : "") + TITLE; // seen from another tab
    showQueue(waitingList, byId("waiting-count"), waiting, TEXT.nobodyWaiting);
    showQueue(mineList, byId("mine-count"), queue.mine || [], TEXT.noneYours);
  }

  function showQueue(list, count, entries, empty) {
    count.textContent = String(entries.length);
    list.replaceChildren();
    if (!entries.length) list.append(element("li", "queue__empty", empty));
    entries.forEach(function (entry) {
      const item = element("li", "queue__item");
      item.dataset.conversationId = entry.conversation_id;
      if (entry.conversation_id === openId) item.classList.add("queue__item--open");
      const open = element("button", "queue__open");
      open.type = "button";
      open.append(
        element("span", "queue__quote", entry.last_customer_message || "(no message)"),
        element(
          "span",
          "queue__meta",
          [
            entry.state === "agent" ? "with " + (entry.agent || "an agent") : "waiting " + waited(entry.waiting_seconds),
            entry.trigger ? entry.trigger.replace(/_/g, " ") : "",
            entry.reason ? "“" + entry.reason + "”" : "",
          ]
            .filter(Boolean)
            .join(" · ")
        )
      );
      open.addEventListener("click", function () {
        openTranscript(entry.conversation_id);
      });
      item.append(open);
      if (entry.state === "waiting") {
        const claim = element("button", "button button--small", "Claim");
        claim.type = "button";
        claim.setAttribute("aria-label", "Claim: " + (entry.last_customer_message || entry.conversation_id));
        claim.addEventListener("click", function () {
          claimConversation(entry.conversation_id);
        });
        item.append(claim);
      }
      list.append(item);
    });
  }

  // --- One conversation: its details, its messages, what the agent may do

  function showTranscript(visible) {
    transcriptBody.hidden = !visible;
    emptyTranscript.hidden = visible;
    if (!visible) {
      messages.replaceChildren();
      details.replaceChildren();
      say("");
    }
  }

  async function openTranscript(conversationId) {
    openId = conversationId;
    lastMessageId = null;
    shown.clear();
    messages.replaceChildren();
    say("");
    showTranscript(true);
    document.querySelectorAll(".queue__item").forEach(function (item) {
      item.classList.toggle("queue__item--open", item.dataset.conversationId === conversationId);
    });
    await refreshTranscript();
  }

  async function refreshTranscript() {
    const conversationId = openId;
    let path = "/conversations/" + encodeURIComponent(conversationId);
    if (lastMessageId !== null) path += "?after=" + encodeURIComponent(lastMessageId);
    try {
      const response = await staff.fetch(path);
      if (openId !== conversationId) return;
      if (!response.ok) {
        say((await readError(response)).message);
        return;
      }
      const conversation = await response.json();
      if (openId !== conversationId) return;
      showDetails(conversation);
      conversation.messages.forEach(showMessage);
    } catch (error) {
      say(problemOf(error));
    }
  }

  function showDetails(conversation) {
    const rows = [
      ["Conversation", conversation.conversation_id],
      ["State", conversation.state],
      ["Agent", conversation.agent || "nobody"],
      ["Trigger", conversation.trigger ? conversation.trigger.replace(/_/g, " ") : "none"],
      ["Reason", conversation.reason || "none given"],
      ["Waiting since", conversation.waiting_since ? time(conversation.waiting_since) : "not waiting"],
    ];
    details.replaceChildren();
    rows.forEach(function (row) {
      details.append(element("dt", null, row[0]), element("dd", null, row[1]));
    });
    transcriptBody.dataset.state = conversation.state;
    const me = staff.me || {};
    const mine = conversation.state === "agent" && conversation.agent === me.name;
    claimButton.hidden = conversation.state !== "waiting";
    releaseButton.hidden = !mine;
    replyForm.hidden = !mine;
    closeForm.hidden = !(mine || (me.role === "admin" && ["waiting", "agent"].includes(conversation.state)));
  }

  function showMessage(message) {
    const key = String(message.message_id);
    if (shown.has(key)) return;
    shown.add(key);
    lastMessageId = message.message_id;
    const item = element("li", "entry entry--" + message.role);
    item.dataset.messageId = key;
    if (message.role === "event") {
      const parts = [EVENT_NAMES[message.event] || message.event];
      if (message.author) parts.push("by " + message.author);
      if (message.trigger) parts.push("(" + message.trigger.replace(/_/g, " ") + ")");
      item.append(element("p", "entry__event", parts.join(" ")));
      if (message.detail) item.append(element("p", "entry__detail", message.detail));
    } else {
      const author = message.role === "agent" ? message.author : ROLE_NAMES[message.role] || message.role;
      const heading = element("p", "entry__author", author);
      if (message.role === "assistant" && message.source) heading.append(" · " + message.source.replace(/_/g, " "));
      if (message.created_at) heading.append(" · " + time(message.created_at));
      item.append(heading, element("p", "entry__text", message.content));
      if (message.feedback) {
        const rating = message.feedback.rating === "up" ? "Rated helpful" : "Rated not helpful";
        item.append(element("p", "entry__feedback", message.feedback.comment ? rating + ": " + message.feedback.comment : rating));
      }
    }
    messages.append(item);
    item.scrollIntoView({ block: "nearest" });
  }

  // --- Claim, reply, release, close

  async function act(path, body) {
    say("");
    try {
      const response = await staff.fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body || {}),
      });
      if (response.ok) return response.json();
      const error = await readError(response);
      if (error.code === "ALREADY_CLAIMED") say(TEXT.alreadyClaimed);
      else if (error.code === "NOT_ASSIGNED") say(TEXT.notAssigned);
      else say(error.message);
    } catch (error) {
      say(problemOf(error));
    }
    return null;
  }

  function conversationPath(conversationId, action) {
    return "/conversations/" + encodeURIComponent(conversationId) + "/" + action;
  }

  async function claimConversation(conversationId) {
    if (openId !== conversationId) await openTranscript(conversationId);
    await act(conversationPath(conversationId, "claim"));
    refreshQueue();
    await refreshTranscript();
    if (!replyForm.hidden) replyText.focus();
  }

  claimButton.addEventListener("click", function () {
    if (openId) claimConversation(openId);
  });

  releaseButton.addEventListener("click", async function () {
    await act(conversationPath(openId, "release"));
    refreshQueue();
    refreshTranscript();
  });

  replyForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    const content = replyText.value.trim();
    if (!content) {
      replyText.focus();
      return;
    }
    const sent = await act(conversationPath(openId, "messages"), { content: content });
    if (sent) {
      replyText.value = "";
      showMessage(sent);
    } else {
      refreshTranscript();
    }
  });

  replyText.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      replyForm.requestSubmit();
    }
  });

  closeForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    const note = closeNote.value.trim();
    if (await act(conversationPath(openId, "close"), note ? { note: note } : {})) closeNote.value = "";
    refreshQueue();
    refreshTranscript();
  });
})();
