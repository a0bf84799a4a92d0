// The admin page at /admin: the numbers of a period with a chart per day, what went wrong, the FAQ editor.
//
// Plain ES2017, no framework, no build step, no library, no inline script (the CSP allows files from
// 'self' only). Every text from the server is inserted as text (textContent), never as HTML; the
// chart is SVG built element by element. Signing in is staff.js's, as on the agent console: the
// token stays in this tab only and goes out as Authorization: Bearer (load api.js and staff.js
// first).
"use strict";

(function () {
  const api = document.body.dataset.api;

  // --- Small helpers.

  const element = GreenGrocerStaff.element;

  function button(text, className) {
    const node = element("button", className || "button button--secondary", text);
    node.type = "button";
    return node;
  }

  function showStatus(node, text, isError) {
    node.textContent = text || "";
    node.classList.toggle("status--error", Boolean(isError));
  }

  function markInvalid(input, invalid) {
    if (invalid) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function formatNumber(value) {
    return typeof value === "number" ? value.toLocaleString("en-US") : "–";
  }

  function formatPercent(rate) {
    return typeof rate === "number" ? Math.round(rate * 1000) / 10 + "%" : "–";
  }

  // DeepSeek's prices are in USD per million tokens: a day's cost is often a fraction of a cent.
  function formatCost(value) {
    if (typeof value !== "number") return "–";
    return "$" + (value >= 1 ? value.toFixed(2) : value.toFixed(6));
  }

  function formatTime(iso) {
    if (!iso) return "never";
    return iso.slice(0, 16).replace("T", " ") + " UTC";
  }

  // Previous and Next under a list (ids PREFIX-previous, PREFIX-page, PREFIX-next); shown only with pages.
  function pager(prefix, load) {
    const where = document.getElementById(prefix + "-page");
    const previous = document.getElementById(prefix + "-previous");
    const next = document.getElementById(prefix + "-next");
    let current = 1;
    previous.addEventListener("click", function () { load(current - 1); });
    next.addEventListener("click", function () { load(current + 1); });
    return {
      page: function () { return current; },
      show: function (page, pages) {
        current = page;
        where.parentElement.hidden = pages <= 1;
        where.textContent = "Page " + page + " of " + pages;
        previous.disabled = page <= 1;
        next.disabled = page >= pages;
      },
    };
  }

  function isoDay(date) {
    return date.toISOString().slice(0, 10);
  }

  // --- Signing in and out: staff.js (shared with the agent console) keeps the token; call() uses it.

  const signInForm = document.getElementById("sign-in");
  const signOutButton = document.getElementById("sign-out");
  const who = document.getElementById("who");
  const workspace = document.getElementById("workspace");
  const OFFLINE = "We could not reach the server. Please try again.";
  let staff = null; // the session, started at the end of this file

  // Call the staff API; resolve to {ok, status, data, code, message, field} and never throw.
  async function call(path, options) {
    const settings = options || {};
    const init = { method: settings.method || "GET", headers: {}, cache: "no-store" };
    if (settings.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(settings.body);
    }
    let response;
    try {
      response = await staff.fetch(path, init);
    } catch (error) {
      if (error instanceof GreenGrocerStaff.SignedOut) return { ok: false, status: 401, signedOut: true };
      return { ok: false, status: 0, code: "OFFLINE", message: OFFLINE };
    }
    if (response.ok && settings.raw) return { ok: true, status: response.status, response: response };
    if (response.ok) return { ok: true, status: response.status, data: response.status === 204 ? null : await response.json() };
    const problem = await GreenGrocerStaff.readError(response);
    return { ok: false, status: response.status, code: problem.code, message: problem.message, field: problem.body.field };
  }

  // A call refused for the token (401: staff.js has signed out) or the role (403) ends the session.
  function refused(result) {
    if (result.status === 403) staff.signOut("This page is for admins.");
    return result.status === 401 || result.status === 403;
  }

  // --- The numbers of the period, and the chart per day.

  const periodForm = document.getElementById("period");
  const fromInput = document.getElementById("from");
  const toInput = document.getElementById("to");
  const numbersStatus = document.getElementById("numbers-status");
  const totals = document.getElementById("totals");
  const chart = document.getElementById("chart");
  const legend = document.getElementById("chart-legend");
  const SOURCES = [
    ["faq", "FAQ"],
    ["llm", "AI assistant"],
    ["faq_fallback", "FAQ fallback"],
    ["handoff", "Handed to a person"],
    ["agent", "Agent"],
  ];
  const TRIGGERS = [
    ["customer_button", "button"],
    ["customer_words", "customer's words"],
    ["model", "the assistant"],
  ];

  (function defaultPeriod() {
    const today = new Date();
    const weekAgo = new Date(today.getTime() - 6 * 24 * 3600 * 1000);
    fromInput.value = isoDay(weekAgo);
    toInput.value = isoDay(today);
  })();

  function period() {
    return "from=" + encodeURIComponent(fromInput.value) + "&to=" + encodeURIComponent(toInput.value);
  }

  // A refused period names its field ("from" or "to"): mark that input.
  function markPeriod(result) {
    markInvalid(fromInput, result.field === "from");
    markInvalid(toInput, result.field === "to");
  }

  async function loadNumbers() {
    showStatus(numbersStatus, "Loading the numbers…");
    const result = await call("/stats?" + period());
    if (refused(result)) return;
    markPeriod(result);
    if (!result.ok) {
      showStatus(numbersStatus, result.message, true);
      totals.replaceChildren();
      chart.replaceChildren();
      legend.replaceChildren();
      return;
    }
    const stats = result.data;
    showStatus(numbersStatus, stats.conversations ? "" : "No conversations in this period.");
    showTotals(stats);
    drawChart(stats);
  }

  function breakdown(counts, names) {
    return names.map(function (pair) {
      return pair[1] + " " + formatNumber((counts || {})[pair[0]]);
    }).join(" · ");
  }

  function showTotals(stats) {
    const answers = stats.answers || {};
    const tokens = stats.tokens || {};
    const feedback = stats.feedback || {};
    const rows = [
      ["conversations", "Conversations", formatNumber(stats.conversations)],
      ["customer_messages", "Customer messages", formatNumber(stats.customer_messages)],
      ["deflection_rate", "Deflection rate", formatPercent(stats.deflection_rate)],
      ["answers", "Answers", breakdown(answers, SOURCES)],
      ["handoffs", "Handoffs by trigger", breakdown(stats.handoffs, TRIGGERS)],
      ["feedback", "Feedback", "up " + formatNumber(feedback.up) + " · down " + formatNumber(feedback.down)],
      ["failed_turns", "Failed turns", formatNumber(stats.failed_turns)],
      ["tokens", "Tokens", "prompt " + formatNumber(tokens.prompt) + " · completion " +
        formatNumber(tokens.completion) + " · cache hit " + formatNumber(tokens.cache_hit)],
      ["estimated_cost", "Estimated cost (USD)", formatCost(stats.estimated_cost)],
    ];
    totals.replaceChildren();
    rows.forEach(function (row) {
      const group = element("div", "totals__item");
      group.dataset.stat = row[0];
      group.append(element("dt", "totals__name", row[1]), element("dd", "totals__value", row[2]));
      totals.append(group);
    });
  }

  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, String(attributes[name]));
    });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A round step for about `parts` gridlines up to `highest` (1, 2 or 5 times a power of ten).
  function niceStep(highest, parts) {
    const rough = Math.max(highest / parts, 1);
    const power = Math.pow(10, Math.floor(Math.log10(rough)));
    const step = [1, 2, 5, 10].map(function (m) { return m * power; }).find(function (s) { return s >= rough; });
    return step;
  }

  // Answers by source as stacked bars per day (left axis), the deflection rate as a line (right axis).
  function drawChart(stats) {
    const days = stats.by_day || [];
    const width = 760;
    const height = 280;
    const left = 48;
    const right = 52;
    const top = 16;
    const bottom = 36;
    const plotWidth = width - left - right;
    const plotHeight = height - top - bottom;
    const dayTotals = days.map(function (day) {
      return SOURCES.reduce(function (sum, pair) { return sum + ((day.answers || {})[pair[0]] || 0); }, 0);
    });
    const step = niceStep(Math.max.apply(null, dayTotals.concat([1])), 4);
    const highest = step * Math.max(1, Math.ceil(Math.max.apply(null, dayTotals.concat([1])) / step));
    const band = days.length ? plotWidth / days.length : plotWidth;
    const barWidth = Math.max(1, Math.min(48, band * 0.7));
    const y = function (count) { return top + plotHeight - (count / highest) * plotHeight; };
    const yRate = function (rate) { return top + plotHeight - rate * plotHeight; };
    const drawing = svg("svg", {
      viewBox: "0 0 " + width + " " + height,
      class: "chart__svg",
      role: "img",
      "aria-label": "Answers by source per day from " + stats.from + " to " + stats.to + ", and the deflection rate",
    });

    for (let count = 0; count <= highest; count += step) {
      drawing.append(svg("line", { class: "chart__grid", x1: left, x2: left + plotWidth, y1: y(count), y2: y(count) }));
      drawing.append(svg("text", { class: "chart__tick", x: left - 6, y: y(count) + 4, "text-anchor": "end" }, String(count)));
    }
    [0, 0.5, 1].forEach(function (rate) {
      drawing.append(svg("text", { class: "chart__tick chart__tick--rate", x: left + plotWidth + 6, y: yRate(rate) + 4 },
        Math.round(rate * 100) + "%"));
    });

    const labelEvery = Math.max(1, Math.ceil(days.length / 10));
    const points = [];
    days.forEach(function (day, index) {
      const centre = left + band * index + band / 2;
      const group = svg("g", { class: "chart__day", "data-date": day.date });
      let base = 0;
      SOURCES.forEach(function (pair) {
        const count = (day.answers || {})[pair[0]] || 0;
        if (!count) return;
        const bar = svg("rect", {
          class: "chart__bar chart__bar--" + pair[0],
          x: centre - barWidth / 2,
          y: y(base + count),
          width: barWidth,
          height: y(base) - y(base + count),
          "data-source": pair[0],
          "data-count": count,
        });
        bar.append(svg("title", {}, day.date + ": " + pair[1] + " " + count));
        group.append(bar);
        base += count;
      });
      drawing.append(group);
      if (index % labelEvery === 0) {
        drawing.append(svg("text", { class: "chart__tick", x: centre, y: top + plotHeight + 18, "text-anchor": "middle" },
          day.date.slice(5)));
      }
      if (typeof day.deflection_rate === "number") points.push([centre, yRate(day.deflection_rate), day]);
    });
    drawing.append(svg("line", { class: "chart__axis", x1: left, x2: left + plotWidth, y1: y(0), y2: y(0) }));
    if (points.length) {
      drawing.append(svg("polyline", {
        class: "chart__line",
        points: points.map(function (point) { return point[0].toFixed(1) + "," + point[1].toFixed(1); }).join(" "),
      }));
      points.forEach(function (point) {
        const dot = svg("circle", { class: "chart__dot", cx: point[0], cy: point[1], r: 3.5, "data-date": point[2].date });
        dot.append(svg("title", {}, point[2].date + ": deflection rate " + formatPercent(point[2].deflection_rate)));
        drawing.append(dot);
      });
    }
    chart.replaceChildren(drawing);

    legend.replaceChildren();
    SOURCES.forEach(function (pair) {
      const item = element("li", "legend__item legend__item--" + pair[0], pair[1]);
      legend.append(item);
    });
    legend.append(element("li", "legend__item legend__item--rate", "Deflection rate (right axis)"));
  }

  periodForm.addEventListener("submit", function (event) {
    event.preventDefault();
    loadNumbers();
    loadQuestions(1);
  });

  // --- The export: fetched with the token (a plain link cannot send it), then saved from a Blob.

  const exportButton = document.getElementById("export");
  const exportFormat = document.getElementById("export-format");

  exportButton.addEventListener("click", async function () {
    const format = exportFormat.value;
    exportButton.disabled = true;
    showStatus(numbersStatus, "Preparing the export…");
    const result = await call("/export?" + period() + "&format=" + encodeURIComponent(format), { raw: true });
    exportButton.disabled = false;
    if (refused(result)) return;
    if (!result.ok) {
      showStatus(numbersStatus, result.message, true);
      return;
    }
    const blob = await result.response.blob();
    const named = /filename="([^"]+)"/.exec(result.response.headers.get("Content-Disposition") || "");
    const link = element("a");
    link.href = URL.createObjectURL(blob);
    link.download = named ? named[1] : "conversations-" + fromInput.value + "-" + toInput.value + "." + format;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
    showStatus(numbersStatus, "Exported " + link.download + ".");
  });

  // --- What went wrong: the customers' questions of one kind, grouped, with "Write the answer".

  const kindTabs = Array.from(document.querySelectorAll("#kinds [role=tab]"));
  const questionsStatus = document.getElementById("questions-status");
  const questionsList = document.getElementById("questions");
  const questionsPager = pager("questions", function (page) { loadQuestions(page); });
  let questionsKind = "down";
  const EXAMPLES_SHOWN = 3;
  const SOURCE_NAMES = {};
  SOURCES.forEach(function (pair) { SOURCE_NAMES[pair[0]] = pair[1]; });

  async function loadQuestions(page) {
    showStatus(questionsStatus, "Loading…");
    const kind = questionsKind;
    const result = await call("/questions?kind=" + kind + "&" + period() + "&page=" + page);
    if (kind !== questionsKind) return; // another tab was chosen meanwhile
    if (refused(result)) return;
    questionsList.replaceChildren();
    if (!result.ok) {
      showStatus(questionsStatus, result.message, true);
      questionsPager.show(1, 0);
      return;
    }
    const found = result.data;
    showStatus(questionsStatus, found.total ? "" : "Nothing of this kind in this period.");
    found.groups.forEach(function (group) { questionsList.append(questionItem(group)); });
    questionsPager.show(found.page, found.pages);
  }

  function questionItem(group) {
    const item = element("li", "question");
    item.append(element("p", "question__text", group.question));
    item.append(element("p", "question__meta",
      "Asked " + group.count + (group.count === 1 ? " time" : " times") + " · last " + formatTime(group.last_asked_at)));
    const examples = element("ul", "question__examples");
    group.examples.slice(0, EXAMPLES_SHOWN).forEach(function (example) {
      const line = element("li", "example");
      if (example.question !== group.question) line.append(element("p", "example__question", "“" + example.question + "”"));
      const answer = element("p", "example__answer");
      if (example.answer) {
        answer.append(element("span", "example__label", "Answer (" + (SOURCE_NAMES[example.source] || example.source) + "): "),
          document.createTextNode(example.answer));
      } else {
        answer.append(element("span", "example__label", "No answer" + (example.error_code ? " (" + example.error_code + ")" : "")));
      }
      line.append(answer);
      if (example.comment) {
        const comment = element("p", "example__comment");
        comment.append(element("span", "example__label", "Comment: "), document.createTextNode(example.comment));
        line.append(comment);
      }
      line.append(element("p", "example__meta", formatTime(example.created_at) + " · conversation " + example.conversation_id));
      examples.append(line);
    });
    item.append(examples);
    const write = button("Write the answer");
    write.addEventListener("click", function () {
      const first = group.examples[0];
      const phrasings = [first.question];
      if (group.question !== first.question) phrasings.push(group.question);
      openEditor({
        phrasings: phrasings,
        fromMessageId: first.message_id,
        origin: "From the customer's question “" + first.question + "”: it becomes the first phrasing.",
      });
    });
    item.append(write);
    return item;
  }

  // The tabs: a click or, once one has the focus, the arrow keys choose the kind (ARIA's tabs pattern).
  function chooseKind(tab) {
    kindTabs.forEach(function (other) {
      other.setAttribute("aria-selected", String(other === tab));
      other.tabIndex = other === tab ? 0 : -1;
    });
    questionsKind = tab.dataset.kind;
    loadQuestions(1);
  }

  kindTabs.forEach(function (tab, index) {
    tab.tabIndex = index === 0 ? 0 : -1;
    tab.addEventListener("click", function () { chooseKind(tab); });
    tab.addEventListener("keydown", function (event) {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      event.preventDefault();
      const next = kindTabs[(index + step + kindTabs.length) % kindTabs.length];
      next.focus();
      chooseKind(next);
    });
  });

  // --- The FAQ: the list with search and hit counts, the editor, deleting with a confirmation.

  const faqSearch = document.getElementById("faq-search");
  const faqQuery = document.getElementById("faq-q");
  const faqStatus = document.getElementById("faq-status");
  const faqRows = document.getElementById("faq-rows");
  const faqPager = pager("faq", function (page) { loadFaqs(page); });
  const FAQ_PER_PAGE = 25;

  // Load a page of entries; `done` is what to say above them (what was just saved or deleted).
  async function loadFaqs(page, done) {
    const query = faqQuery.value.trim();
    const result = await call(
      "/faqs?per_page=" + FAQ_PER_PAGE + "&page=" + page + (query ? "&q=" + encodeURIComponent(query) : ""));
    if (refused(result)) return;
    if (!result.ok) {
      showStatus(faqStatus, result.message, true);
      return;
    }
    const found = result.data;

    faqRows.replaceChildren();
    found.faqs.forEach(function (entry) { faqRows.append(faqRow(entry)); });
    const empty = found.total ? "" : query ? "No entry contains “" + query + "”." : "The FAQ is empty.";
    showStatus(faqStatus, [done, empty].filter(Boolean).join(" "));
    faqPager.show(found.page, Math.ceil(found.total / found.per_page));
  }

  function faqRow(entry) {
    const row = element("tr", "faq");
    row.dataset.faqId = entry.id;
    const name = element("td", "faq__entry");
    name.append(element("p", "faq__id", entry.id));
    const phrasings = element("ul", "faq__phrasings");
    entry.phrasings.forEach(function (phrasing) { phrasings.append(element("li", "", phrasing)); });
    name.append(phrasings);
    if (entry.tags.length) name.append(element("p", "faq__tags", "Tags: " + entry.tags.join(", ")));
    const actions = element("td", "faq__actions");
    const edit = button("Edit");
    edit.addEventListener("click", function () { editEntry(entry.id); });
    const remove = button("Delete");
    remove.addEventListener("click", function () { confirmDelete(entry, actions); });
    actions.append(edit, remove);
    row.append(name, element("td", "faq__answer", entry.answer), element("td", "faq__hits", formatNumber(entry.hit_count)),
      element("td", "faq__last-hit", formatTime(entry.last_hit_at)), actions);
    return row;
  }

  // Deleting asks first, in the row itself (no dialog): "Delete" again deletes, "Keep" puts the buttons back.
  function confirmDelete(entry, actions) {
    const kept = Array.from(actions.childNodes);
    const question = element("p", "faq__confirm", "Delete “" + entry.id + "” for good?");
    const yes = button("Yes, delete", "button button--danger");
    const no = button("Keep");
    no.addEventListener("click", function () { actions.replaceChildren.apply(actions, kept); });
    yes.addEventListener("click", async function () {
      yes.disabled = true;
      const result = await call("/faqs/" + encodeURIComponent(entry.id), { method: "DELETE" });
      if (refused(result)) return;
      if (!result.ok && result.status !== 404) {
        yes.disabled = false;
        showStatus(faqStatus, result.message, true);
        return;
      }
      loadFaqs(faqPager.page(), "Deleted “" + entry.id + "”.");
    });
    actions.replaceChildren(question, yes, no);
    no.focus();
  }

  faqSearch.addEventListener("submit", function (event) {
    event.preventDefault();
    loadFaqs(1);
  });

  // --- The editor: one form for a new entry, a promoted question and an edit.

  const editor = document.getElementById("faq-editor");
  const editorTitle = document.getElementById("editor-title");
  const editorOrigin = document.getElementById("editor-origin");
  const editorStatus = document.getElementById("editor-status");
  const editorSave = document.getElementById("editor-save");
  const fields = {
    id: document.getElementById("faq-id"),
    phrasings: document.getElementById("faq-phrasings"),
    answer: document.getElementById("faq-answer"),
    tags: document.getElementById("faq-tags"),
  };
  let editing = null; // {id (null for a new entry), fromMessageId}

  function clearErrors() {
    editorStatus.textContent = "";
    Object.keys(fields).forEach(function (name) {
      markInvalid(fields[name], false);
      document.getElementById(fields[name].id + "-error").textContent = "";
    });
  }

  // Show the error next to the field the 400 names; an error of no field of the form goes under it.
  function showError(result) {
    const input = fields[result.field];
    const message = result.message.replace(/^"[a-z_]+": /, "");
    if (input) {
      markInvalid(input, true);
      document.getElementById(input.id + "-error").textContent = message;
      input.focus();
    } else {
      editorStatus.textContent = message;
    }
  }

  function openEditor(entry) {
    editing = { id: entry.id || null, fromMessageId: entry.fromMessageId || null };
    clearErrors();
    editorTitle.textContent = entry.id ? "Edit “" + entry.id + "”" : "New FAQ entry";
    editorOrigin.textContent = entry.origin || "";
    editorOrigin.hidden = !entry.origin;
    fields.id.value = entry.id || "";
    fields.id.readOnly = Boolean(entry.id);
    fields.phrasings.value = (entry.phrasings || []).join("\n");
    fields.answer.value = entry.answer || "";
    fields.tags.value = (entry.tags || []).join(", ");
    editor.hidden = false;
    editor.scrollIntoView({ block: "start" });
    (entry.phrasings && entry.phrasings.length ? fields.answer : fields.phrasings).focus();
  }

  function closeEditor() {
    editing = null;
    editor.hidden = true;
  }

  async function editEntry(id) {
    const result = await call("/faqs/" + encodeURIComponent(id));
    if (refused(result)) return;
    if (!result.ok) {
      showStatus(faqStatus, result.message, true);
      return;
    }
    openEditor(result.data);
  }

  function lines(text, separator) {
    return text.split(separator).map(function (part) { return part.trim(); }).filter(Boolean);
  }

  editor.addEventListener("submit", async function (event) {
    event.preventDefault();
    clearErrors();
    const body = {
      phrasings: lines(fields.phrasings.value, "\n"),
      answer: fields.answer.value.trim(),
      tags: lines(fields.tags.value, ","),
    };
    const id = fields.id.value.trim();
    if (id) body.id = id;
    if (editing.fromMessageId) body.from_message_id = editing.fromMessageId;
    editorSave.disabled = true;
    const result = editing.id
      ? await call("/faqs/" + encodeURIComponent(editing.id), { method: "PUT", body: body })
      : await call("/faqs", { method: "POST", body: body });
    editorSave.disabled = false;
    if (refused(result)) return;
    if (!result.ok) {
      if (result.code === "FAQ_ID_TAKEN") result.field = "id";
      showError(result);
      return;
    }
    closeEditor();
    faqQuery.value = result.data.id; // show what was saved, wherever it sits in the list
    loadFaqs(1, "Saved “" + result.data.id + "”: customers get it from now on.");
  });

  document.getElementById("faq-new").addEventListener("click", function () { openEditor({}); });
  document.getElementById("editor-cancel").addEventListener("click", closeEditor);

  // --- Start: staff.js signs in with the token this tab already has, or waits for the form.

  staff = GreenGrocerStaff.session({
    api: api,
    role: "admin",
    form: signInForm,
    tokenInput: document.getElementById("token"),
    message: document.getElementById("sign-in-status"),
    signedIn: [workspace, signOutButton, who],
    signedOut: [signInForm],
    signOutButton: signOutButton,
    onSignIn: function (me) {
      who.textContent = "Signed in as " + me.name + " (" + me.role + ")";
      loadNumbers();
      loadQuestions(1);
      loadFaqs(1);
    },
  });
})();
