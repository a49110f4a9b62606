import gc, sys, collections
gc.set_debug(gc.DEBUG_SAVEALL)
def pytest_unconfigure(config):
    gc.collect()
    c=collections.Counter(type(o).__module__+'.'+type(o).__qualname__ for o in gc.garbage)
    sys.stderr.write(f"GARBAGE {len(gc.garbage)}\n")
    for k,v in c.most_common(25): sys.stderr.write(f"  {v} {k}\n")
