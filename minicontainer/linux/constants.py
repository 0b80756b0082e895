"""Kernel constants (x86_64/aarch64 generic values) and their names.

The name tables let ``--explain`` print ``CLONE_NEWPID|CLONE_NEWNS`` rather
than a number.
"""

# Namespace flags (clone(2), unshare(2), setns(2)).
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_PIDFD = 0x00001000
CLONE_INTO_CGROUP = 0x200000000

CLONE_FLAGS = {
    "CLONE_NEWUSER": CLONE_NEWUSER, "CLONE_NEWPID": CLONE_NEWPID,
    "CLONE_NEWNS": CLONE_NEWNS, "CLONE_NEWUTS": CLONE_NEWUTS,
    "CLONE_NEWIPC": CLONE_NEWIPC, "CLONE_NEWNET": CLONE_NEWNET,
    "CLONE_NEWCGROUP": CLONE_NEWCGROUP, "CLONE_NEWTIME": CLONE_NEWTIME,
    "CLONE_PIDFD": CLONE_PIDFD, "CLONE_INTO_CGROUP": CLONE_INTO_CGROUP,
}

# mount(2) flags.
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

MOUNT_FLAGS = {
    "MS_RDONLY": MS_RDONLY, "MS_NOSUID": MS_NOSUID, "MS_NODEV": MS_NODEV,
    "MS_NOEXEC": MS_NOEXEC, "MS_REMOUNT": MS_REMOUNT, "MS_NOATIME": MS_NOATIME,
    "MS_BIND": MS_BIND, "MS_MOVE": MS_MOVE, "MS_REC": MS_REC,
    "MS_PRIVATE": MS_PRIVATE, "MS_SLAVE": MS_SLAVE, "MS_SHARED": MS_SHARED,
    "MS_UNBINDABLE": MS_UNBINDABLE, "MS_RELATIME": MS_RELATIME,
    "MS_STRICTATIME": MS_STRICTATIME, "MS_NODIRATIME": MS_NODIRATIME,
    "MS_SYNCHRONOUS": MS_SYNCHRONOUS, "MS_DIRSYNC": MS_DIRSYNC,
    "MS_NOSYMFOLLOW": MS_NOSYMFOLLOW,
}

# statvfs f_flag bits that a read-only remount must keep (locked in a userns).
ST_RDONLY, ST_NOSUID, ST_NODEV, ST_NOEXEC = 1, 2, 4, 8
ST_NOATIME, ST_NODIRATIME, ST_RELATIME = 1024, 2048, 4096

MNT_DETACH = 2

# prctl(2).
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24

# ioctl(2) requests.
TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
TIOCGWINSZ = 0x5413
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

# System call numbers that glibc 2.36 does not wrap, per architecture.
SYSCALLS = {
    "x86_64": {"pivot_root": 155, "pidfd_open": 434, "pidfd_send_signal": 424,
               "clone3": 435, "clone": 56, "close_range": 436},
    "aarch64": {"pivot_root": 41, "pidfd_open": 434, "pidfd_send_signal": 424,
                "clone3": 435, "clone": 220, "close_range": 436},
}


def flag_names(value, table):
    """'A|B' for the bits of ``value`` named in ``table``; leftovers in hex."""
    names = []
    for name, bit in table.items():
        if value & bit:
            names.append(name)
            value &= ~bit
    if value:
        names.append(hex(value))
    return "|".join(names) or "0"
