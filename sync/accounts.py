"""The chart of accounts the posting rules use (DOMAIN.md section 7)."""

ACCOUNTS_RECEIVABLE = "1100 Accounts Receivable"
CLEARING = "1190 Undeposited Funds"
DEFERRED_REVENUE = "2400 Deferred Revenue"
REVENUE = "4000 Subscription Revenue"
TAX_PAYABLE = "2300 Sales Tax Payable"
BAD_DEBT = "6900 Bad Debt Expense"
