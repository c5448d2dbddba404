"""The optional login gate: nothing on loopback, a password or OpenID Connect elsewhere."""

from __future__ import annotations

import hmac
import time

import streamlit as st

from lagwatch.dashboard.config import DashboardConfig

_UNTIL = "_login_until"
# A wrong password costs this long, so guessing over the network is slow.
FAILURE_DELAY = 1.0


def require_login(config: DashboardConfig) -> None:
    """Return when the viewer may see the dashboard; otherwise draw the login and stop."""
    host = str(st.get_option("server.address") or config.host)
    method = config.login.effective(host)
    if method == "none":
        return
    if method == "oidc":
        _oidc(config.login.oidc_provider)
        return
    secret = config.login.password
    assert secret is not None  # the config model requires it for this method
    if st.session_state.get(_UNTIL, 0.0) > time.time():
        with st.sidebar:
            if st.button("Log out", key="_logout"):
                st.session_state.pop(_UNTIL, None)
                st.rerun()
        return
    st.title("lagwatch")
    with st.form("login"):
        given = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        if hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
            st.session_state[_UNTIL] = time.time() + config.login.session_timeout
            st.rerun()
        time.sleep(FAILURE_DELAY)
        st.error("Wrong password.")
    st.stop()


def _oidc(provider: str | None) -> None:
    if st.user.is_logged_in:
        with st.sidebar:
            st.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or 'you'}")
            if st.button("Log out", key="_logout"):
                st.logout()
        return
    st.title("lagwatch")
    st.write("This dashboard is shared; sign in to see it.")
    if st.button("Log in"):
        if provider:
            st.login(provider)
        else:
            st.login()
    st.stop()
