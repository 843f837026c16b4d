def old_helper(x):
    return x * 2
