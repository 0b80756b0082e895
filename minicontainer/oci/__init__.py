"""The OCI runtime-spec command line (``minicontainer-oci``), for containerd and Podman."""
