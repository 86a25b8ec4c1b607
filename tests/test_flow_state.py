"""Typed flow state: stored as the same JSON as before, rebuilt as its class,
moved only along its transition table, and refused when stored in another shape."""

import json

import pytest

from idp.authn.methods import Proof
from idp.flows.contact import ContactChange
from idp.flows.enrolment import Enrolment
from idp.flows.factor import Factor
from idp.flows.recovery import Recovery
from idp.flows.registration import Registration
from idp.flows.state import StepError, begin_flow, load_flow, save_flow


def _registration():
    return Registration(email="ana@example.si", phone="+38641123456", password_hash="h",
                        existing=False, lang="sl")


def test_typed_state_is_stored_as_plain_json_and_loaded_as_its_class(app):
    with app.test_request_context("/"):
        flow = begin_flow("register", "email", state=_registration())
        raw = json.loads(app.extensions["idp_store"].get(f"flow:register:{flow.id}"))
        assert raw["data"] == {"email": "ana@example.si", "phone": "+38641123456",
                               "password_hash": "h", "existing": False, "lang": "sl",
                               "user_id": None, "puk": None, "undelivered": None}
        loaded = load_flow("register", flow.id)
        assert loaded.data == _registration()
        assert isinstance(loaded.data, Registration)


def test_a_typed_flow_moves_only_along_its_table(app):
    with app.test_request_context("/"):
        flow = begin_flow("register", "email", state=_registration())
        with pytest.raises(StepError):
            flow.advance("puk")
        flow.advance("phone")
        assert flow.step == "phone"


def test_a_flow_stored_in_another_shape_is_not_loaded(app):
    with app.test_request_context("/"):
        flow = begin_flow("recover", "sms", state=Recovery(user_id=1, puk="f"))
        key = f"flow:recover:{flow.id}"
        raw = json.loads(app.extensions["idp_store"].get(key))
        raw["data"]["renamed"] = raw["data"].pop("puk")
        app.extensions["idp_store"].set(key, json.dumps(raw), 60)
        assert load_flow("recover", flow.id) is None


def test_state_and_kind_must_agree(app):
    with app.test_request_context("/"):
        with pytest.raises(TypeError):
            begin_flow("change", "confirm", state=Recovery(user_id=1, puk="f"))
        with pytest.raises(TypeError):
            begin_flow("recover", "sms", state=Recovery(user_id=1, puk="f"), extra=1)


def test_untyped_flows_keep_their_dict(app):
    with app.test_request_context("/"):
        flow = begin_flow("verify", "verify", purpose="login", user_id=None)
        flow.undelivered = "sms"
        save_flow(flow)
        assert load_flow("verify", flow.id).data == {"purpose": "login", "user_id": None,
                                                     "undelivered": "sms"}
        assert load_flow("verify", flow.id).scratch["undelivered"] == "sms"


def test_the_factor_flow_keeps_its_proofs_and_the_method_s_scratch(app):
    with app.test_request_context("/"):
        proof = Proof(("pwd",), frozenset({"knowledge"}), "low")
        flow = begin_flow("factor", "verify", state=Factor(
            purpose="step_up", kinds=["totp"], user_id=3, proofs=[proof.as_dict()],
            required="substantial"))
        flow.scratch["challenge"] = "abc"
        save_flow(flow)
        raw = json.loads(app.extensions["idp_store"].get(f"flow:factor:{flow.id}"))
        assert raw["data"]["scratch"] == {"challenge": "abc"}
        loaded = load_flow("factor", flow.id)
        assert loaded.data == Factor(purpose="step_up", kinds=["totp"], user_id=3,
                                     proofs=[proof.as_dict()], required="substantial",
                                     scratch={"challenge": "abc"})
        assert loaded.data.with_proof(proof) == [proof, proof]
        with pytest.raises(StepError):
            loaded.advance("done")


def test_a_factor_flow_stored_as_the_old_dict_starts_again(app):
    with app.test_request_context("/"):
        flow = begin_flow("factor", "verify", state=Factor(purpose="login", kinds=["sms"]))
        key = f"flow:factor:{flow.id}"
        raw = json.loads(app.extensions["idp_store"].get(key))
        raw["data"] = {"purpose": "login", "kinds": ["sms"], "user_id": None, "proofs": [],
                       "next": None, "required": None, "sms_sent": True}
        app.extensions["idp_store"].set(key, json.dumps(raw), 60)
        assert load_flow("factor", flow.id) is None


def test_the_contact_change_records_what_it_changes(app):
    with app.test_request_context("/"):
        state = ContactChange(field="phone", value="+38641999888", user_id=7, taken=False,
                              lang=None)
        flow = begin_flow("change", "confirm", state=state)
        assert load_flow("change", flow.id).data == state


def test_the_enrolment_keeps_the_method_s_scratch_in_its_state(app):
    with app.test_request_context("/"):
        flow = begin_flow("enrol", "enrol", state=Enrolment(method="totp", user_id=7))
        flow.scratch["totp_secret"] = "S"
        save_flow(flow)
        assert load_flow("enrol", flow.id).data == Enrolment(method="totp", user_id=7,
                                                            scratch={"totp_secret": "S"})
