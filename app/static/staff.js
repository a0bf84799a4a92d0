// Staff sign-in, shared by the agent console (/agent) and the admin page (/admin).
//
// A staff member types their token (from `flask staff add`) into a sign-in form. The token is
// checked with GET /api/v1/staff/me, then kept in sessionStorage (never localStorage: it dies
// with the tab) under "greengrocer.staffToken", and sent as `Authorization: Bearer <token>` on
// every staff request. A 401 from any request signs out at once (revoked or rotated token).
//
// Usage: load api.js, then this file, then the page's own script, which does:
//
//   const staff = GreenGrocerStaff.session({
//     api: document.body.dataset.api,      // the /api/v1 root, e.g. "/api/v1"
//     role: "agent",                       // the least role the page needs: "agent" or "admin"
//     form: signInForm,                    // a <form> holding...
//     tokenInput: tokenField,              // ...an <input type="password"> for the token
//     message: signInMessage,              // where to say why signing in failed (role="alert")
//     signedIn: [elements shown only when signed in], signedOut: [elements shown only when not],
//     signOutButton: button,
//     onSignIn(me) {},                     // me = {id, name, role}
//     onSignOut() {},
//   });
//   const response = await staff.fetch("/queue");   // a path under /api/v1/staff
//
// staff.fetch() rejects with GreenGrocerStaff.SignedOut after a 401 (the page is then signed
// out); any other status is the caller's to read (GreenGrocerApi.readError(response), also
// GreenGrocerStaff.readError). GreenGrocerApi.readEvents(response.body, onEvent) reads a stream.
"use strict";

(function () {
  const TOKEN_KEY = "greengrocer.staffToken";
  const readError = window.GreenGrocerApi.readError;
  const TEXT = {
    badToken: "That token was not accepted. Check it and try again.",
    role: { agent: "This page is for support agents.", admin: "This page is for admins." },
    ended: "You were signed out: your token is no longer valid.",
    offline: "We could not reach the server. Please check your connection and try again.",
  };
  const RANK = { agent: 1, admin: 2 };

  class SignedOut extends Error {
    constructor() {
      super(TEXT.ended);
      this.name = "SignedOut";
    }
  }

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch (error) {
      return null;
    }
  }

  function storeToken(token) {
    try {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (error) {
      // storage refused (private mode): the token lives in the page only
    }
  }

  function session(options) {
    const staffRoot = options.api + "/staff";
    let token = null;
    let me = null;

    function show(signedIn) {
      (options.signedIn || []).forEach(function (element) {
        element.hidden = !signedIn;
      });
      (options.signedOut || []).forEach(function (element) {
        element.hidden = signedIn;
      });
    }

    function say(message) {
      if (options.message) options.message.textContent = message;
    }

    function signOut(message) {
      const wasSignedIn = me !== null;
      token = null;
      me = null;
      storeToken(null);
      show(false);
      say(message || "");
      if (wasSignedIn && options.onSignOut) options.onSignOut();
      if (options.tokenInput) options.tokenInput.focus();
    }

    async function staffFetch(path, init) {
      if (!token) throw new SignedOut();
      const settings = Object.assign({}, init);
      settings.headers = Object.assign({ Accept: "application/json" }, settings.headers, {
        Authorization: "Bearer " + token,
      });
      const response = await fetch(staffRoot + path, settings);
      if (response.status === 401) {
        signOut(TEXT.ended);
        throw new SignedOut();
      }
      return response;
    }

    // Check a token with /staff/me; sign in with it if it is valid and its role is enough.
    async function signIn(candidate, quietly) {
      let response;
      try {
        response = await fetch(staffRoot + "/me", {
          headers: { Accept: "application/json", Authorization: "Bearer " + candidate },
        });
      } catch (error) {
        say(TEXT.offline);
        return;
      }
      if (response.status === 401) {
        signOut(quietly ? "" : TEXT.badToken);
        return;
      }
      if (!response.ok) {
        say((await readError(response)).message);
        return;
      }
      const who = await response.json();
      if ((RANK[who.role] || 0) < (RANK[options.role || "agent"] || 1)) {
        signOut(TEXT.role[options.role] || TEXT.badToken);
        return;
      }
      token = candidate;
      me = who;
      storeToken(candidate);
      say("");
      if (options.tokenInput) options.tokenInput.value = "";
      show(true);
      if (options.onSignIn) options.onSignIn(who);
    }

    if (options.form) {
      options.form.addEventListener("submit", function (event) {
        event.preventDefault();
        const candidate = options.tokenInput.value.trim();
        if (candidate) signIn(candidate, false);
        else options.tokenInput.focus();
      });
    }
    if (options.signOutButton) {
      options.signOutButton.addEventListener("click", function () {
        signOut("");
      });
    }

    show(false);
    const remembered = storedToken();
    if (remembered) signIn(remembered, true);

    return {
      fetch: staffFetch,
      signOut: signOut,
      get me() {
        return me;
      },
    };
  }

  // A new element with a class and a text (set as text, never as HTML), for the staff pages' scripts.
  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  window.GreenGrocerStaff = { session: session, readError: readError, SignedOut: SignedOut, element: element };
})();
