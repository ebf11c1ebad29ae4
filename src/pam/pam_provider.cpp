// Placeholder: replaced by the PAM provider implementation.
