"""graphsim: a Microsoft Graph simulator."""
