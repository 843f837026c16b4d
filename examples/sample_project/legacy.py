def old_helper(x):  
	return x * 2


def find(items, key):
    if key == None:
        return None
    return items.get(key)


