#!/usr/bin/python3
"""One PAM authentication through pam_wrapper, for otp_store_test.

usage: pam_authenticate.py SERVICE USER CODE

Run it with LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 and
PAM_WRAPPER_SERVICE_DIR=DIR, where DIR/SERVICE names the module under test
(pam_google_authenticator). CODE answers the module's one prompt. Prints
"success" and exits 0, prints "refused N" (the PAM return code) and exits 1,
or exits 2 if pypamtest itself is missing or fails.
"""
import sys

try:
    import pypamtest
except ImportError as e:  # python3-pypamtest
    print("cannot import pypamtest: %s" % e, file=sys.stderr)
    sys.exit(2)

if len(sys.argv) != 4:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
service, user, code = sys.argv[1:]
case = pypamtest.TestCase(pypamtest.PAMTEST_AUTHENTICATE)
try:
    pypamtest.run_pamtest(user, service, [case], [code])
except pypamtest.PamTestError as e:
    # "... returned [7]": the module's PAM return code.
    text = str(e)
    rc = text[text.rfind("[") + 1:text.rfind("]")] if "returned [" in text else "?"
    print("refused %s" % rc)
    sys.exit(1)
print("success")
sys.exit(0)
