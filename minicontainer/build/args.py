"""Variables in a Dockerfile: ``$VAR`` substitution and ARG/ENV scoping (pure).

Substitution is what Docker's builder does to the words of ADD, COPY, ENV,
EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR (RUN, CMD and
ENTRYPOINT are left to the shell): ``$VAR``, ``${VAR}``, ``${VAR:-word}``
(word when unset or empty), ``${VAR-word}`` (when unset), ``${VAR:+word}``
(word when set and not empty), ``${VAR+word}`` (when set), ``${VAR:?msg}`` and
``${VAR?msg}`` (an error).  Single quotes keep everything literal; double
quotes keep spaces but expand variables; quotes are removed from the result;
the escape character makes the next character literal (``\\$HOME``).

Scoping, as Docker defines it: an ARG before the first FROM (a "meta" ARG)
is usable in FROM lines only, unless a stage declares it again (``ARG NAME``
without a value takes the meta value); an ARG holds from its line to the end
of its stage; ``--build-arg`` overrides an ARG's default; ENV wins over an
ARG of the same name.  The proxy variables are predefined: passed with
``--build-arg``, they reach RUN without an ARG, and never the cache key.
"""

from ..errors import SpecError

PREDEFINED = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
              "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class SubstitutionError(SpecError):
    pass


def process_word(text, env, escape="\\"):
    """``text`` expanded against ``env`` (a dict), quotes removed: one string."""
    return _Lexer(text, env, escape).words(split=False)[0]


def process_words(text, env, escape="\\"):
    """``text`` expanded and split at unquoted blanks into a list of words."""
    return _Lexer(text, env, escape).words(split=True)


def split_words(text, escape="\\"):
    """``text`` split at unquoted blanks, quotes and escapes kept (for K=V parsing)."""
    words, current, quote, index, braces = [], [], None, 0, 0
    while index < len(text):
        char = text[index]
        if char == escape and index + 1 < len(text) and quote != "'":
            current.append(text[index:index + 2])
            index += 2
            continue
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "$" and text.startswith("${", index):
            braces += 1  # ${VAR:-a b} is one word
        elif char == "}" and braces:
            braces -= 1
        elif char in " \t\n" and not braces:
            if current:
                words.append("".join(current))
                current = []
            index += 1
            continue
        current.append(char)
        index += 1
    if quote:
        raise SubstitutionError(f"unmatched {quote} quote in {text!r}")
    if current:
        words.append("".join(current))
    return words


class _Lexer:
    def __init__(self, text, env, escape):
        self.text, self.env, self.escape = text, env, escape
        self.pos = 0

    def words(self, split):
        words, current, started = [], [], False
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if split and char in " \t\n":
                if started:
                    words.append("".join(current))
                    current, started = [], False
                self.pos += 1
                continue
            started = True
            if char == self.escape:
                if self.pos + 1 < len(text):
                    current.append(text[self.pos + 1])
                    self.pos += 2
                else:
                    current.append(char)
                    self.pos += 1
            elif char == "'":
                end = text.find("'", self.pos + 1)
                if end < 0:
                    raise SubstitutionError(f"unmatched ' quote in {text!r}")
                current.append(text[self.pos + 1:end])
                self.pos = end + 1
            elif char == '"':
                current.append(self._double_quoted())
            elif char == "$":
                current.append(self._variable())
            else:
                current.append(char)
                self.pos += 1
        if started or not split:
            words.append("".join(current))
        return words

    def _double_quoted(self):
        text, out = self.text, []
        self.pos += 1
        while self.pos < len(text):
            char = text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == self.escape and self.pos + 1 < len(text):
                following = text[self.pos + 1]
                if following in ('"', "$", self.escape):
                    out.append(following)
                else:
                    out.append(char + following)
                self.pos += 2
            elif char == "$":
                out.append(self._variable())
            else:
                out.append(char)
                self.pos += 1
        raise SubstitutionError(f'unmatched " quote in {text!r}')

    def _variable(self):
        text = self.text
        self.pos += 1  # the $
        if self.pos >= len(text):
            return "$"
        if text[self.pos] == "{":
            return self._braced()
        start = self.pos
        while self.pos < len(text) and text[self.pos] in _NAME_CHARS:
            self.pos += 1
        name = text[start:self.pos]
        if not name:
            return "$"
        return self.env.get(name, "")

    def _braced(self):
        text = self.text
        start = self.pos + 1
        index = start
        while index < len(text) and text[index] in _NAME_CHARS:
            index += 1
        name = text[start:index]
        if not name:
            raise SubstitutionError(f"bad substitution in {text!r}: ${{ needs a name")
        end = _closing_brace(text, index)
        if end < 0:
            raise SubstitutionError(f"missing '}}' in {text!r}")
        self.pos = end + 1
        modifier_text = text[index:end]
        value = self.env.get(name)
        if not modifier_text:
            return value or ""
        colon = modifier_text.startswith(":")
        op = modifier_text[1:2] if colon else modifier_text[:1]
        word_text = modifier_text[2:] if colon else modifier_text[1:]
        if op not in ("-", "+", "?"):
            raise SubstitutionError(f"unsupported modifier {modifier_text[:2]!r} in "
                                    f"${{{name}...}} of {text!r}")
        is_set = value is not None and (value != "" or not colon)
        if op == "-":
            return value if is_set else process_word(word_text, self.env, self.escape)
        if op == "+":
            return process_word(word_text, self.env, self.escape) if is_set else ""
        if not is_set:
            message = process_word(word_text, self.env, self.escape) or "is not allowed to be unset"
            raise SubstitutionError(f"{name}: {message}")
        return value


def _closing_brace(text, index):
    depth = 1
    while index < len(text):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1


def parse_pairs(rest, escape, env, instruction, legacy_ok=True):
    """``K=V K2="V 2"`` (or the old ``K V`` form) -> [(key, value)], values expanded.

    Every value sees the variables as they were before the instruction, as in
    Docker (``ENV A=1 B=$A`` gives B the old A).
    """
    words = split_words(rest, escape)
    if not words:
        raise SubstitutionError(f"{instruction} requires at least one argument")
    if "=" not in words[0]:
        if not legacy_ok:
            raise SubstitutionError(f"{instruction} names must be KEY=VALUE")
        key = words[0]
        if len(words) == 1:
            raise SubstitutionError(f"{instruction} {key}: needs a value "
                                    f"({instruction} {key}=VALUE or {instruction} {key} VALUE)")
        value_text = rest.strip()[len(key):].strip()
        return [(process_word(key, env, escape), process_word(value_text, env, escape))]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise SubstitutionError(f"{instruction}: {word!r} is not KEY=VALUE")
        pairs.append((process_word(key, env, escape), process_word(value, env, escape)))
    return pairs


class BuildArgs:
    """The ``--build-arg`` values of one build and which of them were used."""

    def __init__(self, given=None, meta_defaults=None):
        self.given = dict(given or {})
        self.meta = dict(meta_defaults or {})   # automatic args (TARGETARCH ...)
        self.used = set()

    def declare_meta(self, name, default_text, escape):
        """A meta ARG (before the first FROM)."""
        self.used.add(name)
        if name in self.given:
            self.meta[name] = self.given[name]
        elif default_text is not None:
            self.meta[name] = process_word(default_text, self.meta, escape)
        else:
            self.meta.pop(name, None) if name not in self.meta else None

    def stage_value(self, name, default_value):
        """The value a stage's ``ARG name[=default]`` takes (None: declared, unset)."""
        self.used.add(name)
        if name in self.given:
            return self.given[name]
        if default_value is not None:
            return default_value
        return self.meta.get(name)

    def predefined(self):
        """The proxy variables given with --build-arg (RUN sees them without an ARG)."""
        return {k: v for k, v in self.given.items() if k in PREDEFINED}

    def unused(self):
        return sorted(k for k in self.given if k not in self.used and k not in PREDEFINED)


def parse_arg_words(rest, escape):
    """``ARG a b=1 c="x y"`` -> [(name, default text or None)] (defaults unexpanded)."""
    result = []
    for word in split_words(rest, escape):
        name, sep, value = word.partition("=")
        if not name:
            raise SubstitutionError(f"ARG {word!r}: the name is empty")
        result.append((name, value if sep else None))
    return result
