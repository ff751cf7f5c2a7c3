"""Writes the seed recipes of the results-file fuzzer (tests/fuzz/fuzz_results.c,
whose header comment defines the recipe format) into tests/fuzz/corpus/results/.

usage: python3 tests/fuzz/make_results_seeds.py [OUT_DIR]

The seeds name paths and attributes with inline strings (0xFF, length,
bytes), so they stay valid when the fuzzer's tables change. Rerun this after
a change of the format's operation or type codes, and commit the output.
"""
import os
import sys

DELETE, GROUP, DATASET, ATTR, SOFT, HARD, EXTERNAL, HASH, STRATTR = range(9)
I8, U8, I32, I64BE, U64, F32, F64, F64BE, FSTR, VSTR, COMPOUND, ENUM, ARRAY, VLEN_I32, \
    OPAQUE, BITFIELD, LDOUBLE, I16BE = range(18)
TEMPLATE, SCRATCH = 0x01, 0x00
LATEST = 2 << 1
SHOW_CONFIG = 1 << 3
UNWRITTEN, ZEROS, BYTES, RANDOM = range(4)


def s(text):
    b = text.encode()
    return bytes([0xFF, len(b)]) + b


def space(*dims):
    """A simple space of these (small, < 128) extents; space() is a scalar."""
    return bytes([len(dims)] + list(dims))


def fixed_string(size):
    return bytes([FSTR, size - 1, 0, 0])


def strattr(path, name, text):
    return bytes([STRATTR]) + s(path) + s(name) + bytes([len(text)]) + text.encode()


def dataset(path, type_bytes, space_bytes, layout, data):
    return bytes([DATASET]) + s(path) + type_bytes + space_bytes + layout + data


SKELETON = (strattr("/", "kpsweep_version", "0.1.0") + strattr("/", "model", "ideal")
            + strattr("/", "job_name", "fuzz")
            + b"".join(bytes([GROUP]) + s(g) for g in ("axes", "points", "lines", "progress"))
            + dataset("/progress/line_done", bytes([U8]), space(2), bytes([0]),
                      bytes([BYTES, 1, 0]))
            + dataset("/points/status", bytes([I8]), space(2, 3), bytes([0]),
                      bytes([BYTES, 0, 1, 2, 3, 9, 0xFF]))
            + bytes([HASH, 0]))

SEEDS = {
    # The real file as the writer leaves it.
    "template": bytes([TEMPLATE]),
    "template_show_config": bytes([TEMPLATE | SHOW_CONFIG]),
    # Every line done.
    "template_all_done": bytes([TEMPLATE]) + dataset(
        "/progress/line_done", bytes([U8]), space(2), bytes([1, 0]), bytes([BYTES, 1, 1])),
    # From nothing: just enough for inspect to read everything.
    "scratch_skeleton": bytes([SCRATCH]) + SKELETON,
    "scratch_skeleton_latest": bytes([SCRATCH | LATEST | SHOW_CONFIG]) + SKELETON,
    # A field of the largest rank inspect's report has room for.
    "template_rank11": bytes([TEMPLATE]) + dataset(
        "/points/O", bytes([F64]), space(*[1] * 11), bytes([1] + [0] * 11),
        bytes([RANDOM, 0x12, 0x34])),
    # Attributes of unexpected types.
    "template_attr_types": bytes([TEMPLATE])
    + bytes([ATTR]) + s("/") + s("n_ranks") + fixed_string(7) + space() + bytes([BYTES]) + b"seven!!"
    + bytes([ATTR]) + s("/") + s("kpsweep_version") + bytes([COMPOUND]) + space() + bytes([RANDOM, 0, 7])
    + bytes([ATTR]) + s("/") + s("start_epoch") + bytes([F64BE]) + space() + bytes([BYTES]) + bytes(8)
    + bytes([ATTR]) + s("/") + s("end_epoch") + bytes([ENUM, 2, 1, 2]) + space() + bytes([BYTES, 1])
    + bytes([HASH, 2]),
    # Links where groups and datasets should be.
    "template_links": bytes([TEMPLATE])
    + bytes([DELETE]) + s("/axes")
    + bytes([SOFT]) + s("/axes") + s("/nowhere")
    + bytes([HARD]) + s("/lines/loop") + s("/lines")
    + bytes([EXTERNAL]) + s("/points/ext") + bytes([1]) + s("/points/O")
    + bytes([EXTERNAL]) + s("/progress/line_done") + bytes([0]) + s("/progress/line_done"),
    # Variable-length strings and sequences as data.
    "template_vlen": bytes([TEMPLATE])
    + dataset("/points/status", bytes([VSTR, 0]), space(6), bytes([0]), bytes([RANDOM, 0, 3]))
    + dataset("/progress/line_done", bytes([VLEN_I32]), space(2), bytes([0]), bytes([RANDOM, 1, 1]))
    + bytes([ATTR]) + s("/") + s("model") + bytes([VSTR, 1]) + space() + bytes([BYTES, 5]) + b"ideal",
    # The progress map as a 2-D dataset, the hash in big-endian order.
    "template_done_rank2": bytes([TEMPLATE]) + dataset(
        "/progress/line_done", bytes([U8]), space(2, 1), bytes([0]), bytes([BYTES, 1, 1]))
    + bytes([HASH, 1]),
    # The crashes the fuzzer found (docs/testing.md, "Findings"), all fixed:
    # replayed in every run.
    "known_rank_12": bytes([TEMPLATE]) + dataset(                            # rank
        "/points/O", bytes([F64]), space(*[1] * 12), bytes([0]), bytes([ZEROS])),
    "known_attr_string_array": bytes([TEMPLATE]) + bytes([ATTR]) + s("/") + s("model")  # attr
    + fixed_string(8) + space(3) + bytes([RANDOM, 1, 2]),
    "known_attr_double_array": bytes([TEMPLATE]) + bytes([ATTR]) + s("/") + s("start_epoch")  # attr
    + bytes([F64]) + space(4) + bytes([RANDOM, 3, 4]),
    "known_hash_array": bytes([TEMPLATE, HASH, 4, 0]),                       # attr
    "known_vlen_string_attr": bytes([TEMPLATE]) + bytes([ATTR]) + s("/") + s("model")  # vlen
    + bytes([VSTR, 0]) + space() + bytes([BYTES, 5]) + b"ideal",
    "known_done_rank_2": bytes([TEMPLATE]) + dataset(                        # done
        "/progress/line_done", bytes([U8]), space(2, 1), bytes([0]), bytes([BYTES, 1, 1])),
    # Scalar and empty datasets where arrays are read.
    "template_scalar_empty": bytes([TEMPLATE])
    + dataset("/points/status", bytes([I8]), space(), bytes([0]), bytes([BYTES, 7]))
    + dataset("/progress/line_done", bytes([U8]), space(0), bytes([1, 0]), bytes([ZEROS]))
    + dataset("/points/O_rel", bytes([F64]), bytes([0xFF]), bytes([0]), bytes([UNWRITTEN])),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus",
                                                             "results")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {out}")


if __name__ == "__main__":
    main()
