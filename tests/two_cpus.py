"""Running a script under tf.distribute.MirroredStrategy over two logical CPUs, in a subprocess.

Logical devices must be configured before TensorFlow initialises, so a test that
needs two replicas runs its script in a fresh Python: :data:`PREAMBLE` sets up
the devices and ``strategy``; :func:`run_on_two_cpus` runs a script after it and
reads what the script printed last, one line of JSON after ``RESULTS``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PREAMBLE = """
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
"""


def run_on_two_cpus(script, timeout=600):
    """Run ``PREAMBLE + script`` in a fresh Python; the JSON the script printed after ``RESULTS``."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [sys.executable, "-c", PREAMBLE + script],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.split("RESULTS")[-1])
