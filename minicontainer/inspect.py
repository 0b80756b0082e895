"""``inspect``: a container's record in the shape of Docker's ``docker inspect``."""

from . import lifecycle


def describe(ref, state_root=None):
    store, container_id, state = lifecycle.load(ref, state_root)
    spec = state["spec"]
    status = lifecycle.current_status(state)
    records = state.get("network") or []
    records = records if isinstance(records, list) else [records]
    network = records[0] if records else {}
    resources = spec.get("resources", {})
    security = spec.get("security", {})
    return {
        "Id": container_id,
        "Created": state.get("created"),
        "Path": (spec.get("args") or [""])[0],
        "Args": list(spec.get("args") or [])[1:],
        "State": {
            "Status": status, "Running": status == "running", "Paused": status == "paused",
            "Restarting": status == "restarting", "OOMKilled": bool(state.get("oom_killed")),
            "Dead": False, "Pid": state.get("pid") or 0 if status in ("running", "paused") else 0,
            "ExitCode": state.get("exit_code") or 0, "Error": state.get("error", ""),
            "StartedAt": state.get("started_at", ""), "FinishedAt": state.get("finished_at", ""),
            **({"Health": state["health"]} if state.get("health") else {}),
        },
        "Image": spec.get("image") or spec.get("rootfs"),
        "ResolvConfPath": f"{store.container_dir(container_id)}/resolv.conf",
        "HostnamePath": f"{store.container_dir(container_id)}/hostname",
        "HostsPath": f"{store.container_dir(container_id)}/hosts",
        "LogPath": f"{store.container_dir(container_id)}/{container_id}-json.log",
        "Name": "/" + (spec.get("name") or ""),
        "RestartCount": state.get("restart_count", 0),
        "HostConfig": {
            "AutoRemove": spec.get("auto_remove"), "NetworkMode": spec.get("network"),
            "RestartPolicy": _restart(spec.get("restart")),
            "Privileged": security.get("privileged"), "CapAdd": security.get("cap_add"),
            "CapDrop": security.get("cap_drop"), "ReadonlyRootfs": spec.get("readonly_rootfs"),
            "Memory": resources.get("memory") or 0, "NanoCpus": int((resources.get("cpus") or 0) * 1e9),
            "PidsLimit": resources.get("pids_limit"), "CgroupParent": spec.get("cgroup_parent") or "",
            "Init": spec.get("init"),
        },
        "Mounts": [{"Type": m["type"], "Source": m.get("source") or "", "Destination": m["target"],
                    "RW": not m.get("readonly")} for m in spec.get("mounts", [])],
        "Config": {
            "Hostname": spec.get("hostname"), "Domainname": spec.get("domainname") or "",
            "User": spec.get("user") or "", "Tty": spec.get("tty"),
            "OpenStdin": spec.get("interactive"), "Env": list(spec.get("env") or []),
            "Cmd": list(spec.get("args") or []), "Image": spec.get("image") or spec.get("rootfs"),
            "WorkingDir": spec.get("cwd"), "Entrypoint": spec.get("entrypoint"),
            "Labels": dict(spec.get("labels") or []), "StopSignal": spec.get("stop_signal"),
            "Healthcheck": spec.get("healthcheck"),
        },
        "NetworkSettings": {
            "Networks": {r["network"]: {
                "IPAddress": r.get("ip"), "IPPrefixLen": r.get("prefixlen"),
                "Gateway": r.get("gateway"), "MacAddress": r.get("mac"),
                "Aliases": r.get("aliases")} for r in records},
            "Ports": {f"{p['container_port']}/{p['proto']}": [
                {"HostIp": p.get("host_ip") or "0.0.0.0", "HostPort": str(p["host_port"])}]
                for p in network.get("ports", [])},
        },
    }


def _restart(policy):
    name, _, count = (policy or "no").partition(":")
    return {"Name": name, "MaximumRetryCount": int(count) if count else 0}
