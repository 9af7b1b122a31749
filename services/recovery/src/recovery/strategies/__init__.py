"""Recovery strategies, one module per family; each planner is pure: Context → Plan | None."""
