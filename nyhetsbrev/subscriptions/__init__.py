"""Who receives an issue: list files, the register, its tokens, the `subscribers` commands."""
