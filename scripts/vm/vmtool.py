#!/usr/bin/env python3
"""What scripts/vm-test needs that this host has no tool for (no kmod, no cpio).

  vmtool.py depmod MODDIR
      write MODDIR/modules.dep and modules.alias (the format busybox modprobe
      reads) from the .modinfo section of every .ko under MODDIR/kernel
  vmtool.py initramfs OUT.gz MODDIR MODULE... -- DEST=SRC...
      write a gzip'd newc cpio: each DEST from host file SRC, plus the .ko
      files MODULE... need, in load order, under lib/modules/ with a
      lib/modules/load-order list for the guest's first init
  vmtool.py vmlinux BZIMAGE OUT
      pull the uncompressed ELF kernel out of a bzImage (its XZ payload) so
      QEMU can boot it directly through PVH, skipping the slow decompressor

Debian's kernel ships its modules uncompressed, which is all this handles.
"""

import gzip
import lzma
import os
import stat
import struct
import sys


# -- kernel modules ---------------------------------------------------------------

def read_modinfo(path):
    """key → [values] from the .modinfo ELF section of one .ko file."""
    with open(path, "rb") as f:
        elf = f.read()
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise SystemExit(f"vmtool: {path} is not a 64-bit ELF file")
    (shoff,) = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    sections = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    names_at = sections[shstrndx][4]
    info = {}
    for name_off, _type, _flags, _addr, offset, size in sections:
        end = elf.index(b"\0", names_at + name_off)
        if elf[names_at + name_off:end] != b".modinfo":
            continue
        for entry in elf[offset:offset + size].split(b"\0"):
            key, sep, value = entry.decode(errors="replace").partition("=")
            if sep:
                info.setdefault(key, []).append(value)
    return info


def norm(name):
    return name.replace("-", "_")


def scan_modules(moddir):
    """name → (path relative to moddir, [dependency names], [aliases])."""
    found = {}
    for root, _dirs, files in os.walk(os.path.join(moddir, "kernel")):
        for file in files:
            if file.endswith(".ko"):
                full = os.path.join(root, file)
                info = read_modinfo(full)
                name = norm(info.get("name", [file[:-3]])[0])
                deps = [norm(d) for d in ",".join(info.get("depends", [])).split(",") if d]
                found[name] = (os.path.relpath(full, moddir), deps, info.get("alias", []))
    return found


def load_order(modules, wanted):
    """Paths of ``wanted`` and everything they need, dependencies first."""
    order, seen = [], set()

    def visit(name):
        name = norm(name)
        if name in seen:
            return
        if name not in modules:
            raise SystemExit(f"vmtool: the kernel has no module {name}")
        seen.add(name)
        for dep in modules[name][1]:
            visit(dep)
        order.append(modules[name][0])

    for name in wanted:
        visit(name)
    return order


def depmod(moddir):
    modules = scan_modules(moddir)
    with open(os.path.join(moddir, "modules.dep.tmp"), "w") as dep:
        for name in sorted(modules):
            needs = load_order(modules, [name])[:-1]
            # modules.dep lists a module's dependencies, the nearest first
            dep.write(f"{modules[name][0]}: {' '.join(reversed(needs))}\n")
    with open(os.path.join(moddir, "modules.alias.tmp"), "w") as alias:
        for name in sorted(modules):
            for pattern in modules[name][2]:
                alias.write(f"alias {pattern} {name}\n")
    for base in ("modules.dep", "modules.alias"):
        os.replace(os.path.join(moddir, base + ".tmp"), os.path.join(moddir, base))


# -- initramfs --------------------------------------------------------------------

class Cpio:
    """A newc-format cpio archive, every entry owned by root."""

    def __init__(self, out):
        self.out = out
        self.inode = 0
        self.dirs = set()

    def _entry(self, name, mode, data=b""):
        self.inode += 1
        raw = name.encode() + b"\0"
        nlink = 2 if stat.S_ISDIR(mode) else 1
        fields = (self.inode, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(raw), 0)
        head = b"070701" + "".join(f"{v:08X}" for v in fields).encode() + raw
        self.out.write(head + b"\0" * (-len(head) % 4))
        self.out.write(data + b"\0" * (-len(data) % 4))

    def directory(self, name):
        parent = os.path.dirname(name)
        if parent and parent not in self.dirs:
            self.directory(parent)
        if name not in self.dirs:
            self.dirs.add(name)
            self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o755):
        self.directory(os.path.dirname(name))
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self.directory(os.path.dirname(name))
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def close(self):
        self._entry("TRAILER!!!", 0)


def initramfs(out, moddir, modules, files):
    tmp = out + ".tmp"
    with gzip.open(tmp, "wb", compresslevel=6) as raw:
        archive = Cpio(raw)
        for name in ("dev", "proc", "sys", "mnt", "bin"):
            archive.directory(name)
        for spec in files:
            dest, _, src = spec.partition("=")
            with open(src, "rb") as f:
                archive.file(dest.lstrip("/"), f.read())
        order = load_order(scan_modules(moddir), modules)
        for path in order:
            with open(os.path.join(moddir, path), "rb") as f:
                archive.file("lib/modules/" + os.path.basename(path), f.read(), 0o644)
        listing = "".join(os.path.basename(p) + "\n" for p in order)
        archive.file("lib/modules/load-order", listing.encode(), 0o644)
        archive.close()
    os.replace(tmp, out)


# -- the kernel image -------------------------------------------------------------

def vmlinux(bzimage, out):
    with open(bzimage, "rb") as f:
        image = f.read()
    at = image.find(b"\xfd7zXZ\x00")
    while at >= 0:
        try:
            elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(image[at:])
        except lzma.LZMAError:
            elf = b""
        if elf[:4] == b"\x7fELF":
            with open(out + ".tmp", "wb") as f:
                f.write(elf)
            os.replace(out + ".tmp", out)
            return
        at = image.find(b"\xfd7zXZ\x00", at + 1)
    raise SystemExit(f"vmtool: no XZ-compressed kernel found in {bzimage}")


def main(argv):
    if len(argv) >= 2 and argv[0] == "depmod":
        return depmod(argv[1])
    if len(argv) == 3 and argv[0] == "vmlinux":
        return vmlinux(argv[1], argv[2])
    if len(argv) >= 3 and argv[0] == "initramfs" and "--" in argv:
        split = argv.index("--")
        return initramfs(argv[1], argv[2], argv[3:split], argv[split + 1:])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
