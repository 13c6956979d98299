"""Paper-trade preparation: orders for the coming week, and the broker adapter seam."""

from autotest_lib.paper.orders import (
    BrokerAdapter,
    DryRunBroker,
    ModelChoice,
    Order,
    OrderSet,
    choose_model,
    prepare_orders,
    target_weights,
)

__all__ = ["BrokerAdapter", "DryRunBroker", "ModelChoice", "Order", "OrderSet", "choose_model", "prepare_orders", "target_weights"]
