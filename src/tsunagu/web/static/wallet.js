/*
 * tsunagu browser wallet: the digital card's two keys, kept in this browser.
 *
 * - Keys: WebCrypto ECDSA P-256, generated here with extractable = false and
 *   stored as CryptoKey objects in IndexedDB. No script (ours included) can
 *   read the private key bytes; they never leave this browser profile.
 * - The server prepares the exact bytes to sign (PKCS#10 request info, CMS
 *   signed attributes); this script checks what it can (origin of a login
 *   challenge, the document digest inside signed attributes), signs, and lets
 *   the server assemble the CSR or the CMS SignedData.
 * - PIN: checked by this page before each use of a key (PBKDF2 verifier in
 *   IndexedDB, locked after 5 wrong tries). Honestly: this gates use through
 *   this UI only — it is not a tamper-resistant chip, and script running on
 *   this origin could call the key without it. The real protection is that
 *   the key is non-extractable.
 *
 * Used by pages with <form data-wallet-action="enroll|login|sign|delegate|application">;
 * messages come translated from <script id="wallet-messages">.
 */
(() => {
  "use strict";

  const DB_NAME = "tsunagu-wallet";
  const STORE = "card";
  const RECORD = "card";
  const MAX_TRIES = 5;
  const PIN_ITERATIONS = 310000;
  const MIN_PIN = 6;
  const MAX_VERIFY_BYTES = 200 * 1024;
  const ECDSA = { name: "ECDSA", namedCurve: "P-256" };
  const SIGN = { name: "ECDSA", hash: "SHA-256" };
  // DER prefix of the CMS messageDigest attribute: OID 1.2.840.113549.1.9.4, SET, OCTET STRING (32)
  const MESSAGE_DIGEST = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04, 0x31, 0x22, 0x04, 0x20,
  ];

  const messagesNode = document.getElementById("wallet-messages");
  const messages = messagesNode ? JSON.parse(messagesNode.textContent) : {};
  const english = document.documentElement.lang === "en";

  class WalletError extends Error {}

  const fail = (key, detail) =>
    new WalletError(detail ? `${messages[key] || key} ${detail}` : messages[key] || key);

  // --- bytes ---------------------------------------------------------------------

  const toBase64 = (bytes) => {
    const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    let text = "";
    for (let i = 0; i < view.length; i += 0x8000) {
      text += String.fromCharCode(...view.subarray(i, i + 0x8000));
    }
    return btoa(text);
  };

  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

  const pem = (label, base64) =>
    `-----BEGIN ${label}-----\n${base64.match(/.{1,64}/g).join("\n")}\n-----END ${label}-----\n`;

  const derOfPem = (text) => text.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");

  const contains = (haystack, needle) => {
    outer: for (let i = 0; i + needle.length <= haystack.length; i += 1) {
      for (let j = 0; j < needle.length; j += 1) {
        if (haystack[i + j] !== needle[j]) continue outer;
      }
      return true;
    }
    return false;
  };

  // --- storage -------------------------------------------------------------------

  const openDb = () =>
    new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });

  const transact = async (mode, work) => {
    const db = await openDb();
    try {
      return await new Promise((resolve, reject) => {
        const request = work(db.transaction(STORE, mode).objectStore(STORE));
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    } finally {
      db.close();
    }
  };

  const loadCard = () => transact("readonly", (store) => store.get(RECORD));
  const saveCard = (card) => transact("readwrite", (store) => store.put(card, RECORD));

  // --- PIN -----------------------------------------------------------------------

  const pinHash = async (pin, salt, iterations) => {
    const material = await crypto.subtle.importKey(
      "raw", new TextEncoder().encode(pin), "PBKDF2", false, ["deriveBits"],
    );
    const bits = await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt, iterations }, material, 256,
    );
    return toBase64(bits);
  };

  const checkPinFormat = (pin) => {
    if (!pin || pin.length < MIN_PIN) throw fail("pin_short");
  };

  /** The stored card, once its PIN is right; counts wrong tries and locks after 5. */
  const unlock = async (pin) => {
    const card = await loadCard();
    if (!card) throw fail("no_wallet");
    if (card.locked) throw fail("locked");
    checkPinFormat(pin);
    const hash = await pinHash(pin, fromBase64(card.pin.salt), card.pin.iterations);
    if (hash !== card.pin.hash) {
      card.failures = (card.failures || 0) + 1;
      card.locked = card.failures >= MAX_TRIES;
      await saveCard(card);
      throw fail(card.locked ? "locked" : "wrong_pin");
    }
    if (card.failures) {
      card.failures = 0;
      await saveCard(card);
    }
    return card;
  };

  // --- server --------------------------------------------------------------------

  const api = async (path, body) => {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
    } catch (error) {
      throw fail("network");
    }
    return answer(response);
  };

  const answer = async (response) => {
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      const text = english ? error.message_en : error.message_ja;
      throw fail("server", text || String(response.status));
    }
    return data;
  };

  const sign = async (key, bytes) => new Uint8Array(await crypto.subtle.sign(SIGN, key, bytes));

  // --- what the pages do ---------------------------------------------------------

  const enroll = async (form, say) => {
    const code = form.elements.code.value.trim();
    const pin = form.elements.pin.value;
    checkPinFormat(pin);
    if (pin !== form.elements.pin2.value) throw fail("pin_mismatch");
    if ((await loadCard()) && !window.confirm(messages.replace_wallet)) return;
    say(messages.enrolling);
    const challenge = await api("/api/trust/enrollment/challenge", { code });
    const pairs = {};
    const requests = {};
    for (const label of ["signing", "authentication"]) {
      pairs[label] = await crypto.subtle.generateKey(ECDSA, false, ["sign", "verify"]);
      const spki = toBase64(await crypto.subtle.exportKey("spki", pairs[label].publicKey));
      const info = await api("/api/trust/enrollment/csr-info", { spki, nonce: challenge.nonce });
      const signature = await sign(pairs[label].privateKey, fromBase64(info.data));
      const csr = await api("/api/trust/enrollment/csr", {
        info: info.data,
        signature: toBase64(signature),
      });
      requests[label] = pem("CERTIFICATE REQUEST", csr.data);
    }
    const issued = await api("/api/trust/enrollment", {
      code,
      nonce: challenge.nonce,
      signing_csr: requests.signing,
      authentication_csr: requests.authentication,
    });
    const certificates = {};
    for (const certificate of issued.certificates) {
      certificates[certificate.kind] = derOfPem(certificate.pem);
    }
    const salt = crypto.getRandomValues(new Uint8Array(16));
    await saveCard({
      format: "tsunagu-browser-wallet/1",
      keys: { signing: pairs.signing.privateKey, authentication: pairs.authentication.privateKey },
      certificates,
      chain: issued.chain.map(derOfPem),
      pin: { salt: toBase64(salt), iterations: PIN_ITERATIONS, hash: await pinHash(pin, salt, PIN_ITERATIONS) },
      failures: 0,
      locked: false,
      enrolledAt: new Date().toISOString(),
    });
    form.reset();
    say(messages.enrolled);
    form.insertAdjacentHTML("afterend", '<p><a href="/login" id="wallet-next"></a></p>');
    document.getElementById("wallet-next").textContent = messages.go_login;
  };

  /** The bytes the authentication key signs (trust.protocol.login_message). */
  const loginMessage = (origin, nonce, expiresAt) => {
    const expires = `${new Date(expiresAt).toISOString().slice(0, 19)}+00:00`;
    return new TextEncoder().encode(["tsunagu-login-v1", origin, nonce, expires].join("\n"));
  };

  const login = async (form, say) => {
    const card = await unlock(form.elements.pin.value);
    say(messages.logging_in);
    const challenge = await api("/api/identity/login/challenge", {});
    if (challenge.origin !== window.location.origin.toLowerCase()) throw fail("origin_mismatch");
    const signature = await sign(
      card.keys.authentication,
      loginMessage(challenge.origin, challenge.nonce, challenge.expires_at),
    );
    await api("/api/identity/login/card", {
      nonce: challenge.nonce,
      certificate: card.certificates.authentication,
      signature: toBase64(signature),
    });
    const next = form.dataset.next;
    window.location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : "/me");
  };

  /** Detached, time-stamped CMS over ``bytes`` (Base64 DER); the key signs only our digest. */
  const signBytes = async (card, bytes) => {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const prepared = await api("/api/trust/signatures/prepare", {
      certificate: card.certificates.signing,
      digest: toBase64(digest),
    });
    const attributes = fromBase64(prepared.data);
    if (attributes[0] !== 0x31 || !contains(attributes, [...MESSAGE_DIGEST, ...digest])) {
      throw fail("tampered");
    }
    const signature = await sign(card.keys.signing, attributes);
    const assembled = await api("/api/trust/signatures/assemble", {
      certificate: card.certificates.signing,
      signed_attrs: prepared.data,
      signature: toBase64(signature),
      timestamp: true,
    });
    return assembled.cms;
  };

  const signFile = async (form, say) => {
    const file = form.elements.file.files[0];
    if (!file) throw fail("file_missing");
    const card = await unlock(form.elements.pin.value);
    say(messages.signing);
    const bytes = new Uint8Array(await file.arrayBuffer());
    const cms = await signBytes(card, bytes);
    let signer = "";
    if (bytes.length <= MAX_VERIFY_BYTES) {
      const checked = await api("/api/trust/signatures/verify", { content: toBase64(bytes), cms });
      signer = checked.signer.name || checked.signer.subject;
    }
    const link = document.getElementById("sign-download");
    if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([fromBase64(cms)], { type: "application/pkcs7-signature" }));
    link.download = `${file.name}.p7s`;
    document.getElementById("sign-signer").textContent = `${messages.signed} ${signer}`;
    document.getElementById("sign-result").hidden = false;
    form.elements.pin.value = "";
    say(`${messages.signed} ${signer}`);
  };

  const delegate = async (form, say) => {
    const card = await unlock(form.elements.pin.value);
    say(messages.signing);
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        body: new FormData(form),
      });
    } catch (error) {
      throw fail("network");
    }
    const draft = await answer(response);
    const cms = await signBytes(card, fromBase64(draft.content));
    const submit = document.getElementById("delegation-submit");
    submit.elements.document.value = JSON.stringify(draft.document);
    submit.elements.cms.value = cms;
    submit.submit();
  };

  /** An application (procedure pages): sign the document the page shows (data-document,
   *  Base64 of its canonical JSON) and post the form with the CMS; the PIN field has no
   *  name, so it never leaves the browser. */
  const signApplication = async (form, say) => {
    const card = await unlock(form.elements.pin.value);
    say(messages.signing);
    form.elements.cms.value = await signBytes(card, fromBase64(form.dataset.document));
    form.elements.pin.value = "";
    form.submit();
  };

  const ACTIONS = { enroll, login, sign: signFile, delegate, application: signApplication };

  // --- wiring --------------------------------------------------------------------

  const supported = () => Boolean(window.isSecureContext && window.crypto && crypto.subtle && window.indexedDB);

  const attach = (form) => {
    const action = ACTIONS[form.dataset.walletAction];
    const status = document.getElementById("wallet-status");
    const problem = document.getElementById("wallet-error");
    const say = (text) => {
      status.textContent = text;
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      problem.hidden = true;
      say("");
      const button = form.querySelector("[type=submit]");
      button.disabled = true;
      try {
        if (!supported()) throw fail("no_webcrypto");
        await action(form, say);
      } catch (error) {
        say("");
        problem.textContent = error instanceof WalletError ? error.message : `${messages.server || ""} ${error}`;
        problem.hidden = false;
        problem.focus();
      } finally {
        button.disabled = false;
      }
    });
  };

  const start = async () => {
    for (const form of document.querySelectorAll("form[data-wallet-action]")) {
      if (form.dataset.walletAction !== "delegate") {
        attach(form);
        continue;
      }
      // A power of attorney is signed here only when this browser holds a card;
      // otherwise the form works without script (sign with the Python wallet).
      const card = supported() ? await loadCard().catch(() => null) : null;
      if (!card) continue;
      for (const node of form.querySelectorAll("[data-wallet-only]")) {
        node.hidden = false;
        node.querySelector("input").required = true;
      }
      attach(form);
    }
  };

  start();
})();
