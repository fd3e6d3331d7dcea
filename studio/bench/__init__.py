"""Benchmarks and the harnesses they run in, kept apart from the studio itself.

    python -m studio bench               render.py: the Renderer against the naive way
    python -m studio bench --train       training.py: the Trainer against a bare PyTorch loop
    python -m studio.bench.classroom     classroom.py: the Classroom's targets
    python -m studio.bench.browser       browser.py: the app in headless Chromium, key to paint
    python -m studio.bench.directions    directions.py: the zoo's named directions, measured

``harness.py`` starts a real ``streamlit run`` and drives Debian's Chromium; the browser bench
and ``tests/test_e2e.py`` both use it. ``poster.py`` is the fresh process in which the render
bench measures a poster's peak memory. The app never imports this package, and the command
line only when ``bench`` runs.
"""
