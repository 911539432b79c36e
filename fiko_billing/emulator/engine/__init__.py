"""What Stripe does behind the API: charging cards, invoicing, renewing, ending."""
