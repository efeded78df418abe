"""Who someone is: staff accounts, sign-in and its throttle, password hashing off the loop,
mini-program sessions and tokens. Imports `store` and the shared leaves."""
