"""After-sales cases and surveys in the portal (portal/views/cases.py): a customer opens a
case with photos about a box inside its window and follows it; staff see the photos; the
limits (window, size, type, count, CSRF) refuse with a clear message and write nothing;
no one reaches another customer's case or photo; surveys are answered through the e-mail
page's service and stopped through the opt-out link's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.actors import Actor, ActorKind
from core.errors import ApplicationError
from portal.access import COOKIE
from portal.models import PortalSettings
from portal.services import portal_settings_ensure
from portal.views.cases import CASE_BODY_MAX_BYTES
from returns import photos as photo_rules
from returns import services as returns
from returns.models import ReturnNote, ReturnPhoto, ReturnRequest
from satisfaction.models import SatisfactionSurvey, SurveyOptOut
from satisfaction.selectors import nps_summary
from tests.factories import (
    ReturnRequestFactory,
    SatisfactionSurveyFactory,
    ShipmentFactory,
    delivered_boxes,
    return_reason,
)
from tests.helpers import messages_of
from tests.portal.conftest import portal_url, signed_in_client

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 200
MB = 1024 * 1024
needs_db = pytest.mark.django_db


def photo(name="photo.jpg", content=JPEG, content_type="image/jpeg"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def big(size: int, name="big.jpg"):
    return photo(name, b"\xff\xd8\xff\xe0" + b"\x00" * (size - 4))


# --- The pure rules (no database) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (WEBP, "image/webp"),
        (b"just some text, renamed photo.jpg", None),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),  # a sound is RIFF too
        (b"GIF89a", None),
        (b"", None),
    ],
)
def test_a_photos_type_is_read_from_its_first_bytes(head, expected):
    assert photo_rules.sniff(head[: photo_rules.SNIFF_BYTES]) == expected


# --- Fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def portal_customer_a(portal_customer_a):
    """The portal's customer A, reading English (the French pages: tests/test_i18n.py)."""
    portal_customer_a.language = "en"
    portal_customer_a.save(update_fields=["language"])
    return portal_customer_a


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def stored_files(media) -> list:
    return [path for path in media.rglob("*") if path.is_file()] if media.exists() else []


@pytest.fixture
def last_weeks_box(org_a, portal_customer_a):
    """Portal customer A's box delivered five days ago."""
    (shipment,) = delivered_boxes(
        org_a, delivered_at=timezone.now() - timedelta(days=5), customer=portal_customer_a
    )
    return shipment


def open_url(shipment):
    return portal_url(shipment.organization, "case-open", shipment_id=shipment.pk)


def case_form(shipment, **fields):
    data = {"reason": return_reason(shipment.organization).pk, "description": "Bag torn open"}
    data.update(fields)
    return data


def nothing_written(media):
    return (
        ReturnRequest.objects.count() == 0
        and ReturnPhoto.objects.count() == 0
        and not stored_files(media)
    )


# --- Opening a case ----------------------------------------------------------------------------


@needs_db
def test_open_a_case_with_a_photo_for_last_weeks_box_and_staff_see_it(
    org_a,
    portal_client_a,
    portal_customer_a,
    last_weeks_box,
    admin_client_a,
    media,
    django_capture_on_commit_callbacks,
):
    page = portal_client_a.get(open_url(last_weeks_box))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Damaged in transit" in html
    assert last_weeks_box.line.items[0]["name"] in html

    with django_capture_on_commit_callbacks(execute=True):
        response = portal_client_a.post(
            open_url(last_weeks_box),
            case_form(last_weeks_box, item_0="1", photos=[photo("IMG_0001.jpg")]),
        )

    case = ReturnRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == portal_url(org_a, "case", case_id=case.pk)
    assert case.customer == portal_customer_a
    assert case.shipment == last_weeks_box
    assert case.description == "Bag torn open"
    assert [item["quantity"] for item in case.items] == [1]
    opened = case.notes.get(kind=ReturnNote.Kind.OPENED)
    assert opened.actor_kind == ActorKind.CUSTOMER
    assert opened.actor_label == portal_customer_a.email
    # Stored through the storage, under the organization and the case, with a random name.
    stored = ReturnPhoto.objects.get(request=case)
    assert stored.content_type == "image/jpeg"
    assert stored.original_name == "IMG_0001.jpg"
    assert stored.file.name.startswith(f"returns/{org_a.pk}/{case.pk}/")
    assert "IMG_0001" not in stored.file.name
    (on_disk,) = stored_files(media)
    assert on_disk.read_bytes() == JPEG
    # A confirmation in the customer's mailbox.
    (message,) = [m for m in mail.outbox if m.to == [portal_customer_a.email]]
    assert f"{case.pk}" in message.subject
    assert portal_url(org_a, "case", case_id=case.pk) in message.body

    followed = portal_client_a.get(response["Location"])
    assert followed.status_code == 200
    assert "Requested" in followed.content.decode()
    assert any(str(case.pk) in text for text in messages_of(followed))

    # Staff: the case's page shows the photo, streamed by a view that checks the case.
    staff_page = admin_client_a.get(
        reverse("admin:returns_returnrequest_change", args=[case.pk])
    ).content.decode()
    staff_photo_url = reverse("admin:returns_returnrequest_photo", args=[case.pk])
    assert f"{staff_photo_url}?photo={stored.pk}" in staff_page
    streamed = admin_client_a.get(staff_photo_url, {"photo": stored.pk})
    assert streamed.status_code == 200
    assert streamed["Content-Type"] == "image/jpeg"
    assert b"".join(streamed.streaming_content) == JPEG
    # The customer reaches their own photo through the portal.
    mine = portal_client_a.get(
        portal_url(org_a, "case-photo", case_id=case.pk), {"photo": stored.pk}
    )
    assert mine.status_code == 200
    assert b"".join(mine.streaming_content) == JPEG


@needs_db
def test_a_case_without_items_or_photos_is_about_the_whole_box(portal_client_a, last_weeks_box):
    response = portal_client_a.post(open_url(last_weeks_box), case_form(last_weeks_box))
    assert response.status_code == 302
    case = ReturnRequest.objects.get()
    assert case.items == []
    assert not case.photos.exists()


@needs_db
def test_three_photos_of_nearly_5_mb_get_through_while_the_field_limit_stays(
    settings, portal_client_a, last_weeks_box, media
):
    # DATA_UPLOAD_MAX_MEMORY_SIZE counts a form's fields, not its files: 15 MB of photos
    # pass it untouched, and a large *field* is still refused, here as everywhere.
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < 3 * MB
    files = [
        big(photo_rules.PHOTO_MAX_BYTES, "a.jpg"),
        big(photo_rules.PHOTO_MAX_BYTES, "b.jpg"),
        big(photo_rules.PHOTO_MAX_BYTES, "c.jpg"),
    ]
    response = portal_client_a.post(
        open_url(last_weeks_box), case_form(last_weeks_box, photos=files)
    )
    assert response.status_code == 302
    assert ReturnPhoto.objects.count() == 3
    assert (
        sorted(path.stat().st_size for path in stored_files(media))
        == [photo_rules.PHOTO_MAX_BYTES] * 3
    )


@needs_db
def test_a_large_field_is_still_refused_on_this_route_and_others(
    settings, org_a, portal_client_a, last_weeks_box, pending_survey, media
):
    huge = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    response = portal_client_a.post(
        open_url(last_weeks_box), case_form(last_weeks_box, filler=huge)
    )
    assert response.status_code == 400
    assert nothing_written(media)
    survey_url = portal_url(org_a, "survey", survey_id=pending_survey.pk)
    assert portal_client_a.post(survey_url, {"score": "9", "filler": huge}).status_code == 400
    pending_survey.refresh_from_db()
    assert pending_survey.score is None


@needs_db
def test_a_body_larger_than_three_photos_is_refused_before_it_is_read(
    portal_client_a, last_weeks_box, media
):
    response = portal_client_a.post(
        open_url(last_weeks_box),
        case_form(last_weeks_box, photos=[photo()]),
        CONTENT_LENGTH=str(CASE_BODY_MAX_BYTES + 1),
    )
    assert response.status_code == 413
    assert "larger than" in response.content.decode()
    assert nothing_written(media)


@needs_db
def test_a_6_mb_photo_is_refused_and_nothing_is_written(portal_client_a, last_weeks_box, media):
    response = portal_client_a.post(
        open_url(last_weeks_box),
        case_form(last_weeks_box, photos=[photo("small.jpg"), big(6 * MB, "huge.jpg")]),
    )
    assert response.status_code == 400
    assert "huge.jpg is larger than 5 MB, the most a photo may be." in response.content.decode()
    assert nothing_written(media)


@needs_db
def test_a_text_file_renamed_jpg_is_refused_and_nothing_is_written(
    portal_client_a, last_weeks_box, media
):
    fake = photo("holiday.jpg", b"Dear shop, this is not a photo.\n", "image/jpeg")
    response = portal_client_a.post(
        open_url(last_weeks_box), case_form(last_weeks_box, photos=[fake])
    )
    assert response.status_code == 400
    assert "holiday.jpg is not a JPEG, PNG or WebP photo." in response.content.decode()
    assert nothing_written(media)


@needs_db
def test_more_than_three_photos_are_refused(portal_client_a, last_weeks_box, media):
    files = [photo(f"{n}.png", PNG, "image/png") for n in range(4)]
    response = portal_client_a.post(
        open_url(last_weeks_box), case_form(last_weeks_box, photos=files)
    )
    assert response.status_code == 400
    assert "At most 3 photos, please." in response.content.decode()
    assert nothing_written(media)


@needs_db
def test_the_service_refuses_a_bad_photo_itself_and_writes_nothing(
    org_a, last_weeks_box, portal_customer_a, media
):
    case = returns.return_open(
        organization=org_a,
        shipment=last_weeks_box,
        reason="damaged",
        actor=Actor.for_customer(portal_customer_a),
    )
    with pytest.raises(ApplicationError) as refused:
        returns.return_photos_add(
            case=case,
            actor=Actor.for_customer(portal_customer_a),
            files=[photo("ok.webp", WEBP, "image/webp"), photo("no.jpg", b"hello", "image/jpeg")],
        )
    assert refused.value.extra["fields"]["photos"] == ["no.jpg is not a JPEG, PNG or WebP photo."]
    assert not ReturnPhoto.objects.exists()
    assert not stored_files(media)


@needs_db
def test_outside_the_window_a_page_says_when_it_closed_and_nothing_is_written(
    org_a, portal_customer_a, portal_client_a, media
):
    (old_box,) = delivered_boxes(
        org_a, delivered_at=timezone.now() - timedelta(days=20), customer=portal_customer_a
    )
    page = portal_client_a.get(open_url(old_box))
    assert page.status_code == 200
    assert "The return window for this box closed on" in page.content.decode()
    assert '<form method="post" enctype' not in page.content.decode()

    response = portal_client_a.post(open_url(old_box), case_form(old_box, photos=[photo()]))
    assert response.status_code == 409
    assert "closed on" in response.content.decode()
    assert nothing_written(media)


@needs_db
def test_a_service_refusal_shows_on_the_form(org_a, portal_client_a, last_weeks_box, media):
    retired = return_reason(org_a, "other")
    retired.active = False
    retired.save()
    response = portal_client_a.post(
        open_url(last_weeks_box), case_form(last_weeks_box, reason=retired.pk, photos=[photo()])
    )
    assert response.status_code == 400  # not one of the reasons offered
    assert nothing_written(media)


@needs_db
def test_a_box_with_an_open_case_leads_to_that_case(org_a, portal_client_a, last_weeks_box):
    assert (
        portal_client_a.post(open_url(last_weeks_box), case_form(last_weeks_box)).status_code == 302
    )
    case = ReturnRequest.objects.get()
    again = portal_client_a.post(open_url(last_weeks_box), case_form(last_weeks_box))
    assert again.status_code == 302
    assert again["Location"] == portal_url(org_a, "case", case_id=case.pk)
    assert ReturnRequest.objects.count() == 1


@needs_db
def test_the_form_checks_csrf(portal_customer_a, last_weeks_box, media):
    browser = signed_in_client(portal_customer_a)
    strict = Client(enforce_csrf_checks=True)
    strict.cookies[COOKIE] = browser.cookies[COOKIE].value
    strict.cookies[COOKIE]["path"] = browser.cookies[COOKIE]["path"]
    response = strict.post(open_url(last_weeks_box), case_form(last_weeks_box, photos=[photo()]))
    assert response.status_code == 403
    assert nothing_written(media)


@needs_db
def test_cases_off_in_the_settings_means_no_case_form(org_a, portal_client_a, last_weeks_box):
    PortalSettings.objects.filter(pk=portal_settings_ensure(organization=org_a).pk).update(
        allow_cases=False
    )
    assert portal_client_a.get(open_url(last_weeks_box)).status_code == 404
    assert (
        portal_client_a.post(open_url(last_weeks_box), case_form(last_weeks_box)).status_code == 404
    )
    assert not ReturnRequest.objects.exists()
    listed = portal_client_a.get(portal_url(org_a, "cases")).content.decode()
    assert open_url(last_weeks_box) not in listed


# --- Photos are their customer's and their organization's only ------------------------------------


@pytest.fixture
def photo_of_b(org_b, customer_b):
    (box,) = delivered_boxes(
        org_b, delivered_at=timezone.now() - timedelta(days=2), customer=customer_b
    )
    actor = Actor.for_customer(customer_b)
    case = returns.return_open(organization=org_b, shipment=box, reason="damaged", actor=actor)
    (stored,) = returns.return_photos_add(case=case, actor=actor, files=[photo("b.jpg")])
    return stored


@needs_db
def test_another_customers_photo_is_not_found_in_the_portal(
    org_a, portal_client_a, last_weeks_box, photo_of_b, other_customer_a
):
    portal_client_a.post(open_url(last_weeks_box), case_form(last_weeks_box, photos=[photo()]))
    own_case = ReturnRequest.objects.get(customer__organization=org_a)
    url = portal_url(org_a, "case-photo", case_id=photo_of_b.request_id)
    assert portal_client_a.get(url, {"photo": photo_of_b.pk}).status_code == 404
    # Their photo's id under my own case: not mine either.
    mine = portal_url(org_a, "case-photo", case_id=own_case.pk)
    assert portal_client_a.get(mine, {"photo": photo_of_b.pk}).status_code == 404
    assert portal_client_a.get(mine, {"photo": "x"}).status_code == 404
    # Another customer of the same organization does not reach mine.
    own_photo = own_case.photos.get()
    other = signed_in_client(other_customer_a)
    assert other.get(mine, {"photo": own_photo.pk}).status_code == 404
    assert other.get(portal_url(org_a, "case", case_id=own_case.pk)).status_code == 404


@needs_db
@pytest.mark.parametrize("photo_id", ["²", "٣", "\uff11", "x", "", "-1", "9" * 30, "9" * 5000])
def test_a_photo_id_that_is_not_a_number_in_ascii_digits_is_not_found(
    org_a, portal_client_a, last_weeks_box, photo_id
):
    # "²" passed str.isdigit() and int() refused it: a server error (tests/portal/test_fuzz.py).
    portal_client_a.post(open_url(last_weeks_box), case_form(last_weeks_box, photos=[photo()]))
    case = ReturnRequest.objects.get(customer__organization=org_a)
    url = portal_url(org_a, "case-photo", case_id=case.pk)
    assert portal_client_a.get(url, {"photo": photo_id}).status_code == 404
    assert portal_client_a.get(url, {"photo": case.photos.get().pk}).status_code == 200


@needs_db
@pytest.mark.parametrize("declared", ["²", "٣", "-1", "1e3", "9" * 5000])
def test_a_case_body_declaring_a_length_that_is_not_a_number_is_refused(
    portal_client_a, last_weeks_box, media, declared
):
    response = portal_client_a.post(
        open_url(last_weeks_box), case_form(last_weeks_box), CONTENT_LENGTH=declared
    )
    assert response.status_code == 413
    assert nothing_written(media)


@needs_db
def test_another_organizations_photo_is_not_found_by_staff(
    admin_client_a, photo_of_b, admin_client_b
):
    url = reverse("admin:returns_returnrequest_photo", args=[photo_of_b.request_id])
    assert admin_client_a.get(url, {"photo": photo_of_b.pk}).status_code == 404
    assert admin_client_b.get(url, {"photo": photo_of_b.pk}).status_code == 200


@needs_db
def test_staff_reach_a_photo_only_under_its_own_case(
    org_a, admin_client_a, last_weeks_box, photo_of_b, portal_customer_a
):
    case = returns.return_open(
        organization=org_a,
        shipment=last_weeks_box,
        reason="damaged",
        actor=Actor.for_customer(portal_customer_a),
    )
    url = reverse("admin:returns_returnrequest_photo", args=[case.pk])
    assert admin_client_a.get(url, {"photo": photo_of_b.pk}).status_code == 404


# --- Following a case ----------------------------------------------------------------------------


@needs_db
def test_the_timeline_shows_status_changes_and_the_resolution_but_no_staff_note(
    org_a, portal_client_a, portal_customer_a, last_weeks_box, staff_user_a
):
    portal_client_a.post(open_url(last_weeks_box), case_form(last_weeks_box))
    case = ReturnRequest.objects.get()
    staff = Actor.for_user(staff_user_a)
    returns.return_add_note(case=case, actor=staff, text="Internal: third claim this year")
    returns.return_approve(case=case, actor=staff, note="Internal: approved by Paul")
    returns.return_resolve(case=case, actor=staff, resolution="credit", amount="4.50")

    html = portal_client_a.get(portal_url(org_a, "case", case_id=case.pk)).content.decode()
    assert "Internal" not in html
    assert "Requested → Approved" in html
    assert "Approved → Resolved" in html
    assert "Credit of 4.50 EUR on your next payment." in html
    assert "Resolved" in html


@needs_db
def test_a_rejection_shows_its_reason_to_the_customer(
    org_a, portal_client_a, last_weeks_box, staff_user_a
):
    portal_client_a.post(open_url(last_weeks_box), case_form(last_weeks_box))
    case = ReturnRequest.objects.get()
    returns.return_reject(
        case=case, actor=Actor.for_user(staff_user_a), reason="The bag was opened after delivery."
    )
    html = portal_client_a.get(portal_url(org_a, "case", case_id=case.pk)).content.decode()
    assert "Requested → Rejected" in html
    assert "The bag was opened after delivery." in html


def _cases_of(customer, count):
    subscription = customer.subscriptions.first()
    start = customer.shipments.count()
    for cycle in range(start, start + count):
        shipment = ShipmentFactory(
            line__cycle=cycle,
            organization=customer.organization,
            line__organization=customer.organization,
            line__customer=customer,
            line__subscription=subscription,
            line__batch__organization=customer.organization,
            status="delivered",
        )
        ReturnRequestFactory(shipment=shipment)


@needs_db
def test_the_case_list_reads_the_same_queries_for_one_case_or_many(
    org_a, portal_client_a, portal_customer_a, other_customer_a
):
    _cases_of(other_customer_a, 1)  # never listed
    _cases_of(portal_customer_a, 1)
    SatisfactionSurveyFactory(shipment=portal_customer_a.shipments.first(), status="sent")
    url = portal_url(org_a, "cases")
    portal_client_a.get(url)  # the portal's settings, made on first use
    with CaptureQueriesContext(connection) as one:
        first = portal_client_a.get(url)
    _cases_of(portal_customer_a, 4)
    with CaptureQueriesContext(connection) as many:
        second = portal_client_a.get(url)
    assert first.status_code == second.status_code == 200
    assert second.content.decode().count('class="case-status"') == 5
    assert len(many) == len(one)


# --- Surveys -------------------------------------------------------------------------------


@pytest.fixture
def pending_survey(portal_customer_a, last_weeks_box):
    return SatisfactionSurveyFactory(
        shipment=last_weeks_box,
        status="sent",
        sent_at=timezone.now() - timedelta(days=1),
        expires_at=timezone.now() + timedelta(days=10),
    )


@needs_db
def test_answer_a_pending_survey_and_staff_nps_counts_it(
    org_a, portal_client_a, portal_customer_a, pending_survey, django_capture_on_commit_callbacks
):
    listed = portal_client_a.get(portal_url(org_a, "cases")).content.decode()
    survey_url = portal_url(org_a, "survey", survey_id=pending_survey.pk)
    assert survey_url in listed
    assert portal_client_a.get(survey_url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = portal_client_a.post(survey_url, {"score": "9", "comment": "Lovely beans"})
    assert response.status_code == 302
    pending_survey.refresh_from_db()
    assert pending_survey.status == SatisfactionSurvey.Status.ANSWERED
    assert (pending_survey.score, pending_survey.comment) == (9, "Lovely beans")
    now = timezone.now()
    summary = nps_summary(
        organization=org_a, start=now - timedelta(days=2), end=now + timedelta(minutes=1)
    )
    assert summary.nps.promoters == 1
    assert summary.answered_of_sent == 1
    assert [m.subject for m in mail.outbox if m.to == [portal_customer_a.email]] == [
        "Thank you for your answer"
    ]
    assert survey_url not in portal_client_a.get(portal_url(org_a, "cases")).content.decode()


@needs_db
def test_an_answered_survey_is_refused_clearly(org_a, portal_client_a, pending_survey):
    survey_url = portal_url(org_a, "survey", survey_id=pending_survey.pk)
    portal_client_a.post(survey_url, {"score": "3"})
    again = portal_client_a.post(survey_url, {"score": "10"})
    assert again.status_code == 409
    assert "You already answered this survey on" in again.content.decode()
    pending_survey.refresh_from_db()
    assert pending_survey.score == 3
    assert "You already answered" in portal_client_a.get(survey_url).content.decode()


@needs_db
def test_the_answer_service_refuses_another_customers_survey(pending_survey, other_customer_a):
    from satisfaction import services as satisfaction

    with pytest.raises(satisfaction.SurveyNotFound):
        satisfaction.survey_answer(
            token=pending_survey.token, score=1, customer=other_customer_a, first_answer_only=True
        )
    pending_survey.refresh_from_db()
    assert pending_survey.score is None


@needs_db
def test_a_survey_needs_a_score(org_a, portal_client_a, pending_survey):
    response = portal_client_a.post(portal_url(org_a, "survey", survey_id=pending_survey.pk), {})
    assert response.status_code == 400
    assert "Pick a score from 0 to 10." in response.content.decode()
    pending_survey.refresh_from_db()
    assert pending_survey.status == SatisfactionSurvey.Status.SENT


@needs_db
def test_a_scheduled_survey_is_not_the_customers_yet(org_a, portal_client_a, last_weeks_box):
    scheduled = SatisfactionSurveyFactory(shipment=last_weeks_box)
    url = portal_url(org_a, "survey", survey_id=scheduled.pk)
    assert portal_client_a.get(url).status_code == 404


@needs_db
def test_stop_survey_emails(
    org_a, portal_client_a, portal_customer_a, django_capture_on_commit_callbacks
):
    url = portal_url(org_a, "surveys-stop")
    page = portal_client_a.get(url)
    assert page.status_code == 200
    assert not SurveyOptOut.objects.exists()  # a page opened is not a decision
    with django_capture_on_commit_callbacks(execute=True):
        response = portal_client_a.post(url)
    assert response.status_code == 302
    assert SurveyOptOut.objects.filter(customer=portal_customer_a).exists()
    assert len([m for m in mail.outbox if m.to == [portal_customer_a.email]]) == 1
    assert "no more surveys" in " ".join(messages_of(portal_client_a.get(response["Location"])))
    # Again: said, not repeated.
    assert portal_client_a.post(url).status_code == 200
    assert SurveyOptOut.objects.count() == 1


@needs_db
def test_surveys_off_in_the_settings(org_a, portal_client_a, pending_survey):
    PortalSettings.objects.filter(pk=portal_settings_ensure(organization=org_a).pk).update(
        allow_surveys=False
    )
    assert (
        portal_client_a.get(portal_url(org_a, "survey", survey_id=pending_survey.pk)).status_code
        == 404
    )
    assert portal_client_a.post(portal_url(org_a, "surveys-stop")).status_code == 404
    assert not SurveyOptOut.objects.exists()


@needs_db
def test_the_case_pages_speak_french(org_a, portal_customer_a, last_weeks_box):
    portal_customer_a.language = "fr"
    portal_customer_a.save(update_fields=["language"])
    client = signed_in_client(portal_customer_a)
    html = client.get(open_url(last_weeks_box)).content.decode()
    assert "Abîmé pendant le transport" in html
    assert "Ouvrir la demande" in html
    response = client.post(
        open_url(last_weeks_box), case_form(last_weeks_box, photos=[photo("x.jpg", b"text")])
    )
    assert "x.jpg n\u2019est pas une photo JPEG, PNG ou WebP." in response.content.decode()
    listed = client.get(portal_url(org_a, "cases")).content.decode()
    assert "Ouvrir une demande sur la box livrée le" in listed


@needs_db
def test_png_and_webp_photos_are_accepted_and_streamed_as_such(
    org_a, portal_client_a, last_weeks_box
):
    files = [photo("a.png", PNG, "application/octet-stream"), photo("b.webp", WEBP, "")]
    response = portal_client_a.post(
        open_url(last_weeks_box), case_form(last_weeks_box, photos=files)
    )
    assert response.status_code == 302
    case = ReturnRequest.objects.get()
    stored = {p.original_name: p for p in case.photos.all()}
    assert stored["a.png"].content_type == "image/png"
    assert stored["a.png"].file.name.endswith(".png")
    assert stored["b.webp"].content_type == "image/webp"
    url = portal_url(org_a, "case-photo", case_id=case.pk)
    streamed = portal_client_a.get(url, {"photo": stored["b.webp"].pk})
    assert streamed["Content-Type"] == "image/webp"
    assert streamed["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in streamed["Content-Security-Policy"]
    assert "no-store" in streamed["Cache-Control"]


@needs_db
def test_the_case_page_reads_the_same_queries_for_a_short_or_long_timeline(
    org_a, portal_client_a, last_weeks_box, staff_user_a
):
    portal_client_a.post(open_url(last_weeks_box), case_form(last_weeks_box, photos=[photo()]))
    case = ReturnRequest.objects.get()
    url = portal_url(org_a, "case", case_id=case.pk)
    portal_client_a.get(url)
    with CaptureQueriesContext(connection) as short:
        portal_client_a.get(url)
    staff = Actor.for_user(staff_user_a)
    for n in range(5):
        returns.return_add_note(case=case, actor=staff, text=f"note {n}")
    returns.return_approve(case=case, actor=staff)
    returns.return_receive(case=case, actor=staff)
    with CaptureQueriesContext(connection) as long:
        html = portal_client_a.get(url).content.decode()
    assert "Approved → Goods received" in html
    assert len(long) == len(short)


@needs_db
@pytest.mark.parametrize(
    "fields",
    [
        {"reason": "not-a-number"},
        {"reason": "999999999"},
        {"item_0": "-1"},
        {"item_0": "99"},
        {"item_0": "1.5"},
        {"item_7": "1"},
        {"photos": "not a file"},
        {"description": "x" * 5000},
        {"description": "\x00"},
    ],
)
def test_hostile_case_forms_are_refused_without_an_error(
    portal_client_a, last_weeks_box, media, fields
):
    data = case_form(last_weeks_box)
    data.update(fields)
    response = portal_client_a.post(open_url(last_weeks_box), data)
    if response.status_code == 302:  # an unknown field is ignored, like any form's
        assert fields == {"item_7": "1"} or fields == {"photos": "not a file"}
    else:
        assert response.status_code == 400
        assert nothing_written(media)


@needs_db
@pytest.mark.parametrize("score", ["11", "-1", "ten", "", "5.5"])
def test_hostile_survey_answers_are_refused(org_a, portal_client_a, pending_survey, score):
    url = portal_url(org_a, "survey", survey_id=pending_survey.pk)
    assert portal_client_a.post(url, {"score": score}).status_code == 400
    pending_survey.refresh_from_db()
    assert pending_survey.score is None
