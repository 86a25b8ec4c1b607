"""The EU Digital Identity Wallet as a way to raise the trust level to high:
an OpenID4VP 1.0 verifier (HAIP 1.0 profile) for the PID as an SD-JWT VC.

``pid`` verifies a presentation (pure: no I/O but the status callback),
``status`` reads Token Status Lists, ``openid4vp`` is the transaction (request
object, DCQL, response encryption, response endpoint), ``service`` applies the
account rules and raises the level, ``views`` are the pages."""
