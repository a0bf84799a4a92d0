// Thumbs up and down under the chat page's answers (the bot's and the support team's).
//
// PUT /api/v1/conversations/<cid>/messages/<mid>/feedback {"rating", "comment"} stores or
// replaces the customer's rating; DELETE removes it. Thumbs down stores the rating at once, then
// asks for an optional comment (at most 1000 characters) that replaces it with the comment.
// Clicking the pressed thumb again removes the rating. Loaded before chat.js; it defines
// window.GreenGrocerFeedback.attach(item, options).
"use strict";

(function () {
  const MAX_COMMENT = 1000;
  const TEXT = {
    up: "Helpful",
    down: "Not helpful",
    ask: "What was wrong with this answer? (optional)",
    send: "Send feedback",
    skip: "No thanks",
    thanks: "Thank you for your feedback.",
    failed: "We could not save your rating. Please try again.",
  };

  // A thumb drawn as SVG (an emoji needs a font the device may lack); thumbs down is it turned over
  // by the style sheet. The path is Material Icons' "thumb_up" (Apache-2.0).
  const SVG = "http://www.w3.org/2000/svg";
  const THUMB =
    "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 " +
    "7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z";

  function thumb() {
    const icon = document.createElementNS(SVG, "svg");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("aria-hidden", "true");
    icon.setAttribute("focusable", "false");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", THUMB);
    icon.append(path);
    return icon;
  }

  function button(label, rating) {
    const element = document.createElement("button");
    element.type = "button";
    element.className = "feedback__thumb feedback__thumb--" + rating;
    element.setAttribute("aria-label", label);
    element.setAttribute("aria-pressed", "false");
    element.title = label;
    element.append(thumb());
    return element;
  }

  // Add thumbs under a message bubble. options: {url: the feedback URL, feedback: null or {rating, comment}}.
  function attach(item, options) {
    const bar = document.createElement("div");
    bar.className = "feedback";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Rate this answer");
    const up = button(TEXT.up, "up");
    const down = button(TEXT.down, "down");
    const note = document.createElement("p");
    note.className = "feedback__note";
    note.setAttribute("role", "status");
    bar.append(up, down, note);
    item.append(bar);
    let rating = options.feedback ? options.feedback.rating : null;
    let form = null;

    function show() {
      up.setAttribute("aria-pressed", String(rating === "up"));
      down.setAttribute("aria-pressed", String(rating === "down"));
      item.dataset.rating = rating || "";
    }

    async function send(method, body) {
      const init = { method: method, headers: { Accept: "application/json" } };
      if (body) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      try {
        const response = await fetch(options.url, init);
        if (response.ok) return true;
        note.textContent = (await window.GreenGrocerApi.readError(response)).message;
      } catch (error) {
        note.textContent = TEXT.failed;
      }
      return false;
    }

    function closeForm() {
      if (form) form.remove();
      form = null;
    }

    function askForComment() {
      form = document.createElement("form");
      form.className = "feedback__form";
      const id = "feedback-comment-" + Math.random().toString(36).slice(2);
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = TEXT.ask;
      const box = document.createElement("textarea");
      box.id = id;
      box.className = "feedback__comment";
      box.rows = 2;
      box.maxLength = MAX_COMMENT;
      const submit = document.createElement("button");
      submit.type = "submit";
      submit.className = "button button--small";
      submit.textContent = TEXT.send;
      const skip = document.createElement("button");
      skip.type = "button";
      skip.className = "button button--small button--plain";
      skip.textContent = TEXT.skip;
      form.append(label, box, submit, skip);
      form.addEventListener("submit", async function (event) {
        event.preventDefault();
        const comment = box.value.trim();
        if (comment && !(await send("PUT", { rating: "down", comment: comment }))) return;
        closeForm();
        note.textContent = TEXT.thanks;
      });
      skip.addEventListener("click", function () {
        closeForm();
        down.focus();
      });
      bar.after(form);
      box.focus();
    }

    async function choose(chosen) {
      closeForm();
      note.textContent = "";
      if (rating === chosen) {
        if (await send("DELETE")) rating = null; // a second click takes the rating back
      } else if (await send("PUT", { rating: chosen })) {
        rating = chosen;
        if (chosen === "down") askForComment();
        else note.textContent = TEXT.thanks;
      }
      show();
    }

    up.addEventListener("click", function () {
      choose("up");
    });
    down.addEventListener("click", function () {
      choose("down");
    });
    show();
  }

  window.GreenGrocerFeedback = { attach: attach };
})();
