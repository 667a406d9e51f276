Stripe.api_key = 'sk_live_Fbp48WEXJC7ZcRZCh96hExzI'
