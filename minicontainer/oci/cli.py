"""``minicontainer-oci``: runc's command line over minicontainer's runtime."""

import sys


def main(argv=None):
    sys.stderr.write("minicontainer-oci: not implemented yet\n")
    return 125
