"""The WSGI module moves what start-up loaded out of the cyclic collector's reach."""

import gc
import importlib


def test_the_wsgi_module_freezes_what_start_up_loaded():
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    importlib.reload(importlib.import_module("hypereal_site.wsgi"))
    assert gc.get_freeze_count() > 1000
