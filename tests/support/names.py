"""Names with links in them, and names that only look close (issue 27): one corpus for the
server's rule (`regflow.validation.contains_link`), the page's mirror of it (web/app.js), the
fuzzer and the hostile-input tests."""

from __future__ import annotations

# Each is refused: a mail client (or a reader) would take part of it for a web address.
LINK_NAMES = (
    "Account locked - unlock now at v.gd/Ab12Cd",
    "t.ly/Xy9",
    "s.id/promo",
    "x.com",
    "X.COM",
    "X.com",
    "T.Co/x",
    "t.me/joinchat",
    "Login 185.199.1.2/secure",
    "185.199.1.2",
    "see 127.1/admin",
    "t\u2024co",  # a one-dot leader: NFKC makes it t.co
    "v\u2024gd/Ab12Cd",
    "J.R.R.Tolkien.com",
    "j.mp",
    "Claim at a.b.example/win",
)
# Each passes: initials, abbreviations, numbers that are no address.
INITIALS_NAMES = (
    "J.R.R. Tolkien",
    "J. R. R. Tolkien",
    "J.R.R.Tolkien",
    "A.Smith",
    "A.B. Smith",
    "e.e. cummings",
    "Jane Doe, M.Sc.",
    "Ph.D. Jane",
    "José M. García",
    "K.Ng",
    "Louis XIV.",
    "Jane 2.0",
)
