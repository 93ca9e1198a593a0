"""Join keys shared by every feature view."""

from feast import Entity, ValueType

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64, description="An end user.")
item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.INT64, description="A catalogue item.")
category = Entity(
    name="category", join_keys=["category"], value_type=ValueType.INT64, description="An item category (catalogue)."
)
ENTITIES = {"user_id": user, "item_id": item, "category": category}
