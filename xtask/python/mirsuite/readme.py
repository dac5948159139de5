"""The model README writer every model shares: title, the model's own sections (classes,
metrics, settings), then the parts every card has in the same form (data, features and
architecture, the commands that reproduce it, limitations, licence), all read from the card."""

import json
import os


def data_lines(card: dict) -> list:
    """The training data of a model, or of each member of an ensemble."""
    lines = []
    for i, m in enumerate(card.get("ensemble", [{"data": card["data"]}])):
        md = m["data"]
        lines += [
            (f"Member {i + 1} of the ensemble, trained by `{m['training']['command']}`: " if "training" in m else "")
            + f"{md['source']}: {md['songs']} songs of {md['seconds_per_song']} s at {md['sample_rate']} Hz.",
            f"Timbres: {json.dumps(md['timbres'])}.",
            f"Dataset command: `{md['command']}`.",
            "",
        ]
    return lines


def dataset_commands(card: dict) -> list:
    """The dataset commands behind a card's training data, each once, in order."""
    return list(dict.fromkeys(m["data"]["command"] or "cargo xtask dataset" for m in card.get("ensemble", [{"data": card["data"]}])))


def write(out: str, card: dict, intro: list, sections: list, features: list, reproduce: list) -> str:
    """Writes `out/README.md`: `intro` lines under the title, the model's `sections` (lines,
    headings included), the shared data section, `features` bullets before the architecture,
    the `reproduce` commands, limitations and licence. Returns the path."""
    lines = [f"# {card['name']} model (v{card['version']})", "", *intro, "", *sections, "## Data", "", *data_lines(card)]
    lines += [
        "## Features and model",
        "",
        *features,
        f"- Architecture: {card['architecture']} ({card['parameters']} parameters).",
        "",
        "## Reproduce",
        "",
        "```sh",
        *reproduce,
        "```",
        "",
        f"## Limitations\n\n{card.get('limitations', '')}",
        "",
        f"## License\n\n{card['license']}",
        "",
    ]
    p = os.path.join(out, "README.md")
    with open(p, "w") as f:
        f.write("\n".join(lines))
    return p
