from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from declarations import selectors, services
from declarations.forms import ConvoyForm, DocumentForm, GoodsForm, HeaderForm
from declarations.models import CargoCategory, ConvoyImport, Status
from declarations.risk import missing_documents
from portal.errors import ApplicationError
from portal.forms import form_add_error
from portal.permissions import firm_access


def _port_time(port=None):
    """Times on these pages are typed and shown in the port's time zone."""
    return timezone.override(ZoneInfo(port.time_zone if port else settings.PORT_DEFAULT_TIME_ZONE))


@login_required
def firm_declarations(request, firm_id):
    access = firm_access(request.user, firm_id)
    access.require("view_declarations")
    status = request.GET.get("status", "")
    if status not in Status.values:
        status = ""
    context = {
        "access": access,
        "firm": access.organisation,
        "declarations": selectors.declarations_of(access.organisation, status=status)[:200],
        "status": status,
        "statuses": Status.choices,
        "can_declare": access.can("declare"),
    }
    return render(request, "declarations/list.html", context)


def _header_initial(declaration):
    return {
        "port": declaration.port_id,
        "direction": declaration.direction,
        "mode": declaration.mode,
        "cargo_category": declaration.cargo_category,
        "vehicle": declaration.vehicle_id,
        "driver": declaration.driver_id,
        "planned_arrival": declaration.planned_arrival,
    }


@login_required
def declaration_new(request, firm_id):
    access = firm_access(request.user, firm_id)
    access.require("declare")
    with _port_time():
        form = HeaderForm(request.POST or None, organisation=access.organisation)
        if request.method == "POST" and form.is_valid():
            try:
                declaration = services.declaration_create(
                    actor=request.user, organisation=access.organisation, **form.cleaned_data
                )
            except ApplicationError as error:
                form_add_error(form, error)
            else:
                return redirect("declarations:goods", declaration.pk)
        return render(
            request, "declarations/header.html", {"form": form, "firm": access.organisation, "step": 1}
        )


@login_required
def declaration_edit(request, pk):
    declaration = selectors.declaration_for(request.user, pk, write=True)
    with _port_time(declaration.port):
        form = HeaderForm(
            request.POST or None, organisation=declaration.organisation, initial=_header_initial(declaration)
        )
        if request.method == "POST" and form.is_valid():
            try:
                services.declaration_update(actor=request.user, declaration=declaration, **form.cleaned_data)
            except ApplicationError as error:
                form_add_error(form, error)
            else:
                return redirect("declarations:goods", declaration.pk)
        return render(
            request, "declarations/header.html", {"form": form, "declaration": declaration, "step": 1}
        )


@login_required
def declaration_detail(request, pk):
    declaration = selectors.declaration_for(request.user, pk)
    membership_can_declare = declaration.organisation.memberships.filter(
        user=request.user, role__in=selectors.DECLARING_ROLES
    ).exists()
    with _port_time(declaration.port):
        return render(
            request,
            "declarations/detail.html",
            {
                "declaration": declaration,
                "goods": declaration.goods.all(),
                "documents": declaration.documents.all(),
                "events": declaration.events.select_related("actor"),
                "can_declare": membership_can_declare,
            },
        )


@login_required
def declaration_goods(request, pk):
    declaration = selectors.declaration_for(request.user, pk, write=True)
    form = GoodsForm(request.POST or None, initial={"currency": "CNY", "unit": "kg"})
    if request.method == "POST" and form.is_valid():
        try:
            services.goods_add(actor=request.user, declaration=declaration, **form.cleaned_data)
        except ApplicationError as error:
            form_add_error(form, error)
        else:
            messages.success(request, _("Goods item added."))
            return redirect("declarations:goods", pk)
    context = {"declaration": declaration, "goods": declaration.goods.all(), "form": form, "step": 2}
    return render(request, "declarations/goods.html", context)


@login_required
def goods_edit(request, pk, item_id):
    declaration = selectors.declaration_for(request.user, pk, write=True)
    item = get_object_or_404(declaration.goods, pk=item_id)
    initial = {f: getattr(item, f) for f in GoodsForm.base_fields}
    form = GoodsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.goods_update(actor=request.user, item=item, **form.cleaned_data)
        except ApplicationError as error:
            form_add_error(form, error)
        else:
            return redirect("declarations:goods", pk)
    return render(
        request, "declarations/goods_edit.html", {"declaration": declaration, "item": item, "form": form}
    )


@login_required
@require_POST
def goods_delete(request, pk, item_id):
    declaration = selectors.declaration_for(request.user, pk, write=True)
    item = get_object_or_404(declaration.goods, pk=item_id)
    try:
        services.goods_delete(actor=request.user, item=item)
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("declarations:goods", pk)


@login_required
def declaration_documents(request, pk):
    declaration = selectors.declaration_for(request.user, pk, write=True)
    form = DocumentForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.document_add(
                actor=request.user,
                declaration=declaration,
                kind=form.cleaned_data["kind"],
                upload=form.cleaned_data["file"],
            )
        except ApplicationError as error:
            form_add_error(form, error)
        else:
            messages.success(request, _("Document added."))
            return redirect("declarations:documents", pk)
    context = {
        "declaration": declaration,
        "documents": declaration.documents.all(),
        "form": form,
        "step": 3,
        "missing": sorted(missing_documents(declaration)),
    }
    return render(request, "declarations/documents.html", context)


@login_required
@require_POST
def document_delete(request, pk, document_id):
    declaration = selectors.declaration_for(request.user, pk, write=True)
    document = get_object_or_404(declaration.documents, pk=document_id)
    try:
        services.document_delete(actor=request.user, document=document)
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("declarations:documents", pk)


@login_required
def document_download(request, pk, document_id):
    """Only for who may see the declaration: the firm, its driver, officers of the port."""
    declaration = selectors.declaration_for(request.user, pk)
    return document_response(get_object_or_404(declaration.documents, pk=document_id))


def document_response(document) -> FileResponse:
    """A stored document, shown inline, never sniffed into another type, never cached."""
    response = FileResponse(document.file.open("rb"), content_type=document.content_type)
    response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def declaration_review(request, pk):
    declaration = selectors.declaration_for(request.user, pk, write=True)
    if request.method == "POST":
        try:
            declaration = services.declaration_submit(actor=request.user, declaration=declaration)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                _("Submitted. Risk channel: %(channel)s.") % {"channel": declaration.get_channel_display()},
            )
            return redirect("declarations:detail", pk)
    context = {
        "declaration": declaration,
        "goods": declaration.goods.all(),
        "documents": declaration.documents.all(),
        "problems": services.submission_problems(declaration),
        "missing": sorted(missing_documents(declaration)),
        "step": 4,
    }
    with _port_time(declaration.port):
        return render(request, "declarations/review.html", context)


@login_required
@require_POST
def declaration_withdraw(request, pk):
    declaration = selectors.declaration_for(request.user, pk, write=True)
    try:
        services.declaration_withdraw(
            actor=request.user, declaration=declaration, comment=request.POST.get("comment", "")
        )
        messages.success(request, _("Declaration withdrawn."))
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("declarations:detail", pk)


@login_required
@require_POST
def declaration_copy(request, pk):
    declaration = selectors.declaration_for(request.user, pk, write=True)
    copy = services.declaration_copy(actor=request.user, declaration=declaration)
    messages.success(request, _("Copied to a new draft: %(reference)s.") % {"reference": copy.reference})
    return redirect("declarations:edit", copy.pk)


@login_required
def convoy_new(request, pk):
    """Upload a file of vehicles, drivers and weights: one draft per row from this declaration."""
    template = selectors.declaration_for(request.user, pk, write=True)
    form = ConvoyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            record = services.convoy_start(
                actor=request.user, template=template, upload=form.cleaned_data["file"]
            )
        except ApplicationError as error:
            form_add_error(form, error)
        else:
            return redirect("declarations:convoy", template.organisation_id, record.pk)
    context = {
        "declaration": template,
        "form": form,
        "problem": services.convoy_template_problem(template),
        "empty_vehicle": template.cargo_category == CargoCategory.EMPTY,
    }
    return render(request, "declarations/convoy_new.html", context)


@login_required
def convoy_sample(request, pk):
    template = selectors.declaration_for(request.user, pk, write=True)
    response = HttpResponse(selectors.convoy_sample(template), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="convoy-{template.reference}.csv"'
    return response


@login_required
def convoy_progress(request, firm_id, convoy_id):
    access = firm_access(request.user, firm_id)
    access.require("declare")
    record = get_object_or_404(
        ConvoyImport.objects.select_related("template"), pk=convoy_id, organisation=access.organisation
    )
    return render(request, "declarations/convoy.html", {"convoy": record, "firm": access.organisation})
