// Reading the API's answers, shared by the chat page, the agent console and the admin page:
// readEvents() parses a text/event-stream body read with fetch() (EventSource can neither POST
// nor send an Authorization header), readError() the one JSON error shape of docs/errors.md.
// Load it before the page's own script; it defines window.GreenGrocerApi.
"use strict";

(function () {
  const FAILED = "Something went wrong on our side. Please try again in a moment.";

  // Call onEvent(name, data, id) for each event; comment lines (": heartbeat") are skipped.
  async function readEvents(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let name = "message";
    let data = [];
    let id = null;
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
          if (data.length) onEvent(name, JSON.parse(data.join("\n")), id);
          name = "message";
          data = [];
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") name = text;
          else if (field === "data") data.push(text);
          else if (field === "id") id = text;
        }
      }
      if (done) return; // an event without its blank line is incomplete: dropped, as EventSource does
    }
  }

  // The JSON error of a response ({code, message}, and the body's other fields under `body`),
  // or a generic one when the body is not ours (a proxy's page).
  async function readError(response) {
    try {
      const body = await response.json();
      if (body && body.error && typeof body.error.message === "string") {
        return Object.assign({ body: body }, body.error);
      }
    } catch (error) {
      // not JSON
    }
    return { code: null, message: FAILED, body: {} };
  }

  function isEventStream(response) {
    return (response.headers.get("Content-Type") || "").startsWith("text/event-stream");
  }

  window.GreenGrocerApi = { readEvents: readEvents, readError: readError, isEventStream: isEventStream };
})();
