// Passkeys offered in the login page's e-mail field (WebAuthn conditional
// mediation, the field has autocomplete="username webauthn"). Only where the
// browser supports it; elsewhere nothing happens and the "Log in with a
// passkey" button remains. The options come from the server with a fresh
// challenge; the browser's answer goes to the passkey login's own page, which
// shows what went wrong if anything did.
(function () {
  "use strict";
  var form = document.getElementById("passkey-autofill");
  if (!form || !window.PublicKeyCredential || !PublicKeyCredential.isConditionalMediationAvailable ||
      !PublicKeyCredential.parseRequestOptionsFromJSON) { return; }
  PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
    if (!available) { return null; }
    return fetch(form.dataset.options, {method: "POST", body: new FormData(form),
                                        credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok) { throw new Error("no options"); }
        return response.json();
      })
      .then(function (data) {
        return navigator.credentials.get({
          mediation: "conditional",
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(data.options)
        }).then(function (credential) {
          form.action = data.action;
          form.elements.credential.value = JSON.stringify(credential.toJSON());
          HTMLFormElement.prototype.submit.call(form);
        });
      });
  }).catch(function () { /* silently absent: the explicit button remains */ });
})();
