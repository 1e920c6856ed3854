"""An independent reader of agentflow's TensorBoard event files (tests/test_observability.sh).

Reads RUN_DIR/tb/events.out.tfevents.* with its own TFRecord framing and CRC32C (written
here, bit by bit from the Castagnoli polynomial) and Event/Summary/TensorProto classes
built from a descriptor defined here with TensorFlow's field numbers (python3-protobuf),
not from the project's .proto. Checks:
  - every record's length and data CRCs, the first record file_version "brain.Event:2";
  - the scalars at each step equal metrics.jsonl's family keys (metric/name) of that
    iteration (as float32), and no other metric tag appears at that step;
  - eval/accuracy at each step equals eval.jsonl's accuracy of that iteration;
  - the "config" text (markdown fence removed) equals RUN_DIR/config.json;
  - text values carry plugin_name "text", and samples/episode (a fenced episode of that
    iteration, turn by turn) appears every N iterations.
Files are merged as TensorBoard does: in name (creation) order, a later file's value for
a (tag, step) replacing an earlier one (a resumed run rewrites the steps after its
checkpoint).
usage: tfevents_read.py RUN_DIR SAMPLES_EVERY      exit 0 when every check passes
       tfevents_read.py --crc-only FILE            exit 0 when every record's CRCs verify
"""
import glob
import json
import math
import os
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def records(path):
    """The records' payloads; raises ValueError on a bad CRC or a truncated record."""
    data = open(path, "rb").read()
    at, out = 0, []
    while at < len(data):
        if len(data) - at < 12:
            raise ValueError(f"{path}: truncated header at {at}")
        (n,) = struct.unpack_from("<Q", data, at)
        (hcrc,) = struct.unpack_from("<I", data, at + 8)
        if masked(crc32c(data[at:at + 8])) != hcrc:
            raise ValueError(f"{path}: bad length CRC at {at}")
        if len(data) - at - 12 < n + 4:
            raise ValueError(f"{path}: truncated record at {at}")
        payload = data[at + 12:at + 12 + n]
        (dcrc,) = struct.unpack_from("<I", data, at + 12 + n)
        if masked(crc32c(payload)) != dcrc:
            raise ValueError(f"{path}: bad data CRC at {at}")
        out.append(payload)
        at += 12 + n + 4
    return out


def classes():
    """Event, built from a descriptor with TensorFlow's field numbers."""
    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name="tfev_test.proto", package="tfev", syntax="proto3")

    def msg(parent, name, fields, oneofs=()):
        m = parent.add()
        m.name = name
        for o in oneofs:
            m.oneof_decl.add(name=o)
        for f in fields:
            fname, num, typ, label, tname, oneof = (list(f) + [None, None, None])[:6]
            x = m.field.add(name=fname, number=num, type=typ, label=label or F.LABEL_OPTIONAL)
            if tname:
                x.type_name = tname
            if oneof is not None:
                x.oneof_index = oneof
        return m

    msg(fd.message_type, "Dim", [("size", 1, F.TYPE_INT64), ("name", 2, F.TYPE_STRING)])
    msg(fd.message_type, "TensorShapeProto", [("dim", 2, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".tfev.Dim"),
                                              ("unknown_rank", 3, F.TYPE_BOOL)])
    msg(fd.message_type, "TensorProto", [("dtype", 1, F.TYPE_INT32), ("tensor_shape", 2, F.TYPE_MESSAGE, None,
                                                                       ".tfev.TensorShapeProto"),
                                         ("string_val", 8, F.TYPE_BYTES, F.LABEL_REPEATED)])
    msg(fd.message_type, "PluginData", [("plugin_name", 1, F.TYPE_STRING), ("content", 2, F.TYPE_BYTES)])
    msg(fd.message_type, "SummaryMetadata", [("plugin_data", 1, F.TYPE_MESSAGE, None, ".tfev.PluginData"),
                                             ("display_name", 2, F.TYPE_STRING),
                                             ("summary_description", 3, F.TYPE_STRING),
                                             ("data_class", 4, F.TYPE_INT32)])
    msg(fd.message_type, "Value", [("tag", 1, F.TYPE_STRING), ("node_name", 7, F.TYPE_STRING),
                                   ("simple_value", 2, F.TYPE_FLOAT, None, None, 0),
                                   ("tensor", 8, F.TYPE_MESSAGE, None, ".tfev.TensorProto", 0),
                                   ("metadata", 9, F.TYPE_MESSAGE, None, ".tfev.SummaryMetadata")], ["value"])
    msg(fd.message_type, "Summary", [("value", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".tfev.Value")])
    msg(fd.message_type, "Event", [("wall_time", 1, F.TYPE_DOUBLE), ("step", 2, F.TYPE_INT64),
                                   ("file_version", 3, F.TYPE_STRING, None, None, 0),
                                   ("summary", 5, F.TYPE_MESSAGE, None, ".tfev.Summary", 0)], ["what"])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    desc = pool.FindMessageTypeByName("tfev.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def main():
    if sys.argv[1] == "--crc-only":
        try:
            records(sys.argv[2])
        except ValueError as e:
            print(e)
            return 1
        return 0
    run, every = sys.argv[1], int(sys.argv[2])
    Event = classes()
    files = sorted(glob.glob(os.path.join(run, "tb", "events.out.tfevents.*")))
    errors = []
    scalars, texts, plugins = {}, {}, set()   # (tag, step) -> value
    steps_tags = {}                             # step -> tags of that step, from the last file writing it
    n_records = 0
    for path in files:
        recs = records(path)  # raises on any CRC error
        n_records += len(recs)
        evs = [Event.FromString(r) for r in recs]
        if not evs or evs[0].WhichOneof("what") != "file_version" or evs[0].file_version != "brain.Event:2":
            errors.append(f"{path}: first record is not file_version brain.Event:2")
        mine = {}
        for ev in evs[1:]:
            if ev.WhichOneof("what") != "summary" or ev.wall_time < 1e9:
                errors.append(f"{path}: event at step {ev.step} without a summary or a wall time")
                continue
            for v in ev.summary.value:
                kind = v.WhichOneof("value")
                if kind == "simple_value":
                    scalars[(v.tag, ev.step)] = v.simple_value
                    mine.setdefault(ev.step, set()).add(v.tag)
                elif kind == "tensor":
                    plugins.add(v.metadata.plugin_data.plugin_name)
                    if v.tensor.dtype != 7 or len(v.tensor.string_val) != 1 or len(v.tensor.tensor_shape.dim):
                        errors.append(f"{path}: text {v.tag} is not a scalar DT_STRING tensor")
                    texts[(v.tag, ev.step)] = v.tensor.string_val[0].decode()
        steps_tags.update(mine)
    if not files:
        errors.append("no event files")
    metrics = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    n_scalars = 0
    for m in metrics:
        it = m["iteration"]
        fam = {k: v for k, v in m.items() if "/" in k}
        if not fam:
            errors.append(f"metrics.jsonl iteration {it}: no family keys")
        for k, v in fam.items():
            got = scalars.get((k, it))
            if v is None:
                if got is not None:
                    errors.append(f"{k} step {it}: null in metrics.jsonl, {got} in TensorBoard")
                continue
            n_scalars += 1
            if got is None:
                errors.append(f"{k} step {it}: missing in TensorBoard")
            elif not math.isclose(got, f32(v), rel_tol=2e-7, abs_tol=0):
                errors.append(f"{k} step {it}: TensorBoard {got!r} != metrics.jsonl {v!r}")
        extra = {t for t in steps_tags.get(it, set()) if not t.startswith("eval/") and t != "time/eval_s"} - set(fam)
        if extra:
            errors.append(f"step {it}: tags in TensorBoard and not in metrics.jsonl: {sorted(extra)}")
        if every > 0 and it % every == 0 and ("samples/episode", it) not in texts:
            errors.append(f"no samples/episode text at step {it}")
        if every > 0 and it % every and ("samples/episode", it) in texts:
            errors.append(f"samples/episode text at step {it}, not a multiple of {every}")
    evals = [json.loads(l) for l in open(os.path.join(run, "eval.jsonl"))] if os.path.exists(
        os.path.join(run, "eval.jsonl")) else []
    for e in evals:
        got = scalars.get(("eval/accuracy", e["iteration"]))
        if got is None or not math.isclose(got, f32(e["accuracy"]), rel_tol=2e-7):
            errors.append(f"eval/accuracy step {e['iteration']}: {got} != eval.jsonl {e['accuracy']}")
    cfg = [t for (tag, _), t in sorted(texts.items(), key=lambda kv: kv[0][1]) if tag == "config"]
    want = open(os.path.join(run, "config.json")).read().rstrip()
    if not cfg:
        errors.append("no config text")
    else:
        body = cfg[-1]
        if not (body.startswith("```\n") and body.endswith("```")):
            errors.append("config text is not a fenced block")
        elif body[4:-3].rstrip() != want:
            errors.append("config text differs from config.json")
    for (tag, step), t in texts.items():
        if tag == "samples/episode" and not (t.startswith(f"```\niteration {step},") and "turn 1: " in t
                                             and t.endswith("\n```")):
            errors.append(f"samples/episode at step {step} is not a fenced episode of that iteration")
    if plugins != {"text"}:
        errors.append(f"text plugin names: {plugins}")
    for e in errors[:20]:
        print("FAIL", e)
    print(f"tfevents_read: {len(files)} file(s), {n_records} records, {n_scalars} scalars compared, "
          f"{len(evals)} evals, {len(texts)} texts: {'ok' if not errors else f'{len(errors)} errors'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
