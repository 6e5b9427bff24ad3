#!/usr/bin/env python3
# Attack: the kernel keyring - keys are not namespaced, so a job could read or plant keys
# in the session keyring the worker shares; add_key, request_key (which can run a
# helper on the host), and /proc/keys.
# Contained: keyctl, add_key and request_key are closed by the policy.
#@include _lib.py

KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING, KEYCTL_GET_KEYRING_ID = -3, -4, 0
expect_closed("keyctl(GET_KEYRING_ID, session)", "keyctl", KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
expect_closed("keyctl(GET_KEYRING_ID, user)", "keyctl", KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0)
expect_closed("add_key(user, hostile)", "add_key", b"user", b"hostile", b"secret", 6, KEY_SPEC_SESSION_KEYRING)
expect_closed("request_key(user, hostile)", "request_key", b"user", b"hostile", None, KEY_SPEC_SESSION_KEYRING)
finish()
