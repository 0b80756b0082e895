"""``minicontainer compose``: multi-container applications from a compose file.

    loader       find files, YAML with lines, merge several -f files
    interpolate  ${VAR}, ${VAR:-default}, ${VAR:?error}, .env
    model        the validated project (networks, volumes) -> service.py per service
    specs        a service as a ContainerSpec (through run's flags)
    plan         dependency order, labels, config hash, what up must do
    project      up, down, start, stop, restart, build, pull
    views        ps, logs, top, exec, run, config (render.py prints it)

Nothing is imported until a command runs.
"""
