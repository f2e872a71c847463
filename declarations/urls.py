from django.urls import path

from declarations import views

app_name = "declarations"
urlpatterns = [
    path("firms/<int:firm_id>/declarations/", views.firm_declarations, name="list"),
    path("firms/<int:firm_id>/declarations/new/", views.declaration_new, name="new"),
    path("declarations/<int:pk>/", views.declaration_detail, name="detail"),
    path("declarations/<int:pk>/edit/", views.declaration_edit, name="edit"),
    path("declarations/<int:pk>/goods/", views.declaration_goods, name="goods"),
    path("declarations/<int:pk>/goods/<int:item_id>/", views.goods_edit, name="goods_edit"),
    path("declarations/<int:pk>/goods/<int:item_id>/delete/", views.goods_delete, name="goods_delete"),
    path("declarations/<int:pk>/documents/", views.declaration_documents, name="documents"),
    path("declarations/<int:pk>/documents/<int:document_id>/", views.document_download, name="document"),
    path(
        "declarations/<int:pk>/documents/<int:document_id>/delete/",
        views.document_delete,
        name="document_delete",
    ),
    path("declarations/<int:pk>/review/", views.declaration_review, name="review"),
    path("declarations/<int:pk>/withdraw/", views.declaration_withdraw, name="withdraw"),
    path("declarations/<int:pk>/copy/", views.declaration_copy, name="copy"),
    path("declarations/<int:pk>/convoy/", views.convoy_new, name="convoy_new"),
    path("declarations/<int:pk>/convoy/sample.csv", views.convoy_sample, name="convoy_sample"),
    path("firms/<int:firm_id>/convoys/<int:convoy_id>/", views.convoy_progress, name="convoy"),
]
