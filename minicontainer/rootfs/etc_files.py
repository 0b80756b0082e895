"""/etc/hostname, /etc/hosts and /etc/resolv.conf, written for each container.

They live in the container's state directory and are bind-mounted into its
root (as Docker does), so the image itself is never modified.
"""

import os

LOCAL_HOSTS = ("127.0.0.1\tlocalhost\n"
               "::1\tlocalhost ip6-localhost ip6-loopback\n"
               "fe00::0\tip6-localnet\n"
               "ff00::0\tip6-mcastprefix\n"
               "ff02::1\tip6-allnodes\n"
               "ff02::2\tip6-allrouters\n")


def write_etc_files(container_dir, spec):
    hostname = spec.hostname or ""
    _write(container_dir, "hostname", hostname + "\n")
    if spec.network == "host":
        hosts = _read("/etc/hosts") or LOCAL_HOSTS
    else:
        hosts = LOCAL_HOSTS
    for entry in spec.network_options.add_hosts:  # --add-host name:ip
        name, _, address = entry.partition(":") if "=" not in entry else entry.partition("=")
        hosts += f"{address}\t{name}\n"
    _write(container_dir, "hosts", hosts)
    host_resolv = _read("/etc/resolv.conf")
    if spec.network_options.dns:
        host_resolv = "".join(f"nameserver {server}\n" for server in spec.network_options.dns)
    _write(container_dir, "resolv.conf", resolv_conf(host_resolv,
                                                     keep_loopback=spec.network == "host"))


def resolv_conf(host_text, keep_loopback):
    """The host's resolver config; loopback servers dropped when the
    container has its own network (127.0.0.53 there would be itself)."""
    lines = []
    for line in (host_text or "").splitlines():
        words = line.split()
        if (not keep_loopback and len(words) >= 2 and words[0] == "nameserver"
                and (words[1].startswith("127.") or words[1] == "::1")):
            continue
        lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _write(directory, name, text):
    with open(os.path.join(directory, name), "w") as f:
        f.write(text)
