"""What the tests of a planner or modules in text share (tests/test_text_planner.py,
tests/test_modules_model.py, tests/test_text_train.py): the build's paths, the npm
tokenizer packages (tests/hf/install_npm.sh), a random-weight tiny Qwen2.5-architecture
model directory with the real Qwen2.5 tokenizer and chat template, and the comparison of
token ids with the JavaScript tokenizer's."""
import contextlib
import json
import os
import shutil
import sys
import tempfile

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
import model_families as mf  # noqa: E402
from test_score_text import NODE_ENCODE, check, npm_modules, run  # noqa: E402


class Env:
    """build, agentflow: the build tree and the CLI (AF_BUILD_DIR, AF_BIN); nm: the npm
    node_modules; src: the Qwen2.5 tokenizer files' directory; enc_js: the JavaScript
    encoder script (NODE_ENCODE), written into tmp by write_encoder."""

    def __init__(self, nm):
        self.build = os.environ.get("AF_BUILD_DIR", "build")
        self.agentflow = os.environ.get("AF_BIN", os.path.join(self.build, "agentflow"))
        self.nm = nm
        self.src = os.path.join(nm, "@lenml", "tokenizer-qwen2_5", "models")
        self.enc_js = None

    def write_encoder(self, tmp):
        self.enc_js = os.path.join(tmp, "enc.mjs")
        with open(self.enc_js, "w") as f:
            f.write(NODE_ENCODE)
        return self.enc_js

    def js_ids(self, d, texts, specials="0"):
        """The JavaScript tokenizer's ids of texts with model dir d's tokenizer: (ids, run)."""
        js = run(["node", self.enc_js, self.nm, d, specials], json.dumps(texts))
        return (json.loads(js.stdout) if js.returncode == 0 else None), js

    def check_ids(self, d, texts, ours):
        """Checks that ours[i] are the JavaScript tokenizer's ids of texts[i]."""
        want, js = self.js_ids(d, texts)
        check("the JavaScript tokenizer ran", want is not None, js.stderr)
        for i, (w, have) in enumerate(zip(want or [], ours)):
            check(f"prompt {i}: ids equal the JavaScript tokenizer's ({len(have)} tokens)", w == have, (w[:20], have[:20]))


def setup():
    """(Env, 0), or (None, exit code) when the npm packages are missing: 77 (a skip) when npm
    cannot install them, 1 on another failure."""
    build = os.environ.get("AF_BUILD_DIR", "build")
    nm, code = npm_modules(build)
    return (Env(nm), 0) if nm is not None else (None, code)


def render(helper, d, suite, req, name):
    """The C helper's `--render D SUITE` of the request req (tests/turns_json.h reads it),
    checked (as name) to exit 0: its JSON reply, or None."""
    r = run([helper, "--render", d, suite], json.dumps(req))
    check(name, r.returncode == 0, r.stderr)
    return json.loads(r.stdout) if r.returncode == 0 else None


@contextlib.contextmanager
def session():
    """with session() as (env, tmp): the Env (encoder written) and a temporary directory
    removed after. Exits the script with setup()'s code when the npm packages are missing."""
    env, code = setup()
    if env is None:
        sys.exit(code)
    with tempfile.TemporaryDirectory() as tmp:
        env.write_encoder(tmp)
        yield env, tmp


def write_model(d, src, max_pos=1024, seed=11, vocab=None, untied=False, edit=None):
    """A tiny Qwen2.5 model of random weights (seed) in d, with src's tokenizer.json and
    tokenizer_config.json. edit(params), if given, changes the weights before they are
    written; untied unties the LM head from the embedding."""
    cfg = mf.tiny("qwen2.5")
    cfg["max_position_embeddings"] = max_pos
    if vocab:
        cfg["vocab_size"] = vocab
    if untied:
        cfg["tie_word_embeddings"] = False
    params = mf.random_params(cfg, seed)
    if edit:
        edit(params)
    mf.write_dir(d, cfg, params, "F32")
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, fn), d)
    return cfg
