#!/usr/bin/env bash
# Rebuild every analysis artifact. Usage: PY=/work/.venv-analysis-build/bin/python scripts/analysis/build_all.sh
set -euo pipefail
PY=${PY:-/work/.venv-analysis-build/bin/python}
cd "$(dirname "$0")"
"$PY" -u build_tokens.py
"$PY" -u build_langid.py
"$PY" -u build_text_models.py
"$PY" -u build_complexity.py
"$PY" -u build_embeddings.py --dims "${EMBED_DIMS:-128}"
"$PY" -u evaluate.py
